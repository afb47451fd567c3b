"""Helpers for the course's notebooks: the map.

Three parts that barely touch, plus two small modules every part uses. Import modules by
name (``from course_utils.lessons.conv import conv_geometry``); importing the package itself
loads nothing heavy.

``env``                               the run context, decided once: device, precision, workers, data folder, fast/offline
``context``                           the ``RunContext`` class that ``env.run_context`` fills (ranks under torchrun too)
``__main__``                          ``python -m course_utils train|evaluate|predict``: the command line
``arguments``                         argument checks and error quoting shared by every part
``i18n``                              the learner's language (English, 简体中文) for checkers and explorers: ``_()``

``lessons/`` — notebooks 01–05, one idea per module
  ``lessons.conv``                    output sizes, window positions, a convolution by hand (01)
  ``lessons.pooling``                 max and average pooling by hand (02)
  ``lessons.summary``                 per-layer table, parameter and FLOP counts (03)
  ``lessons.receptive_field``         the receptive-field recurrence, layer by layer (04)
  ``lessons.receptive_field_probe``   the receptive field measured by a gradient (04)
  ``lessons.architectures``           the notes' first CNN, plain and residual networks (05)
  ``lessons.pictures``                a real photograph offline; drawings of tensors, windows, fields
  ``lessons.diagrams``                diagrams drawn from the shapes the lessons compute (03, 05)
  ``lessons.nesting``                 a shallower net embedded in a deeper one: nested function classes (05)
  ``lessons.explorers``               ipywidgets sliders over the functions above
  ``lessons.model_tour``              what torchvision's model families return, described (08)

``data/`` — where images come from
  ``data.sources``                    your folder → download → generated: one pattern, one warning
  ``data.digits``                     MNIST or generated digits
  ``data.flowers``                    flower folders in the notes' layout, numbered safely
  ``data.flowers102``                 the official Flowers-102, downloaded and converted
  ``data.synthetic_flowers``          the offline default flowers, drawn locally
  ``data.transforms``                 the notes' augmentation and the evaluation transform

``pipeline/`` — training and transfer learning (05–06, the command, the benchmark)
  ``pipeline.training``               ``fit``: the notes' ``train_model`` grown up
  ``pipeline.steps``                  ``fit``'s small steps: argument checks, batches, losses, resume checks
  ``pipeline.distributed``            torchrun: process group, DDP, sharded loaders, metrics over all ranks
  ``pipeline.history``                what a run measured, epoch by epoch
  ``pipeline.randomness``             random generators saved and restored for exact resumes
  ``pipeline.models``                 pretrained models by name, with a recorded new head
  ``pipeline.efficientnet_lite``      the offline ImageNet backbone
  ``pipeline.ensemble``               several backbones, one head on all their features (``"a+b"``)
  ``pipeline.backbone``               the frozen backbone for inference (head removed, BatchNorm folded)
  ``pipeline.features``               stage 1 on cached backbone features
  ``pipeline.transfer``               the two-stage recipe: one config, two stage functions
  ``pipeline.freezing``               how much to freeze for how much data: the experiment runner (06)
  ``pipeline.schedules``              optimizers and learning-rate schedules by name (07)
  ``pipeline.lr_finder``              the learning-rate range test (07)
  ``pipeline.calibration``            expected calibration error, reliability diagram, temperature scaling (07)
  ``pipeline.experiments``            several seeds per setting: mean, spread, and "within the noise?" (07)
  ``pipeline.evaluation``             accuracy, top-5, confusions, one photo's prediction
  ``pipeline.plots``                  plots of data batches, histories and predictions
  ``pipeline.confusion``              a readable confusion matrix: per-class accuracy, confused pairs (08)
  ``pipeline.gradcam``                Grad-CAM: where the network looked (08)
  ``pipeline.activations``            feature maps captured with hooks, first-layer kernels as pictures (08)
  ``pipeline.cli``                    the command line's arguments and help (``cnn-course``)
  ``pipeline.commands``               train (one process or many), evaluate a checkpoint, predict images

``exercises/`` — checkers for the exercises at the end of each notebook
  ``exercises.verdict``               what every checker shares: NotDone, Verdict, the @checker decorator
  ``exercises.start``                 00's checkers
  ``exercises.convolution``           01's checkers: output sizes, a convolution's parameters
  ``exercises.pooling``               02's checkers
  ``exercises.counting``              03's checkers: parameters of layers and networks
  ``exercises.receptive_fields``      04's checkers
  ``exercises.architectures``         05's checkers
  ``exercises.transfer``              06's checkers
  ``exercises.optimizers_losses``     07's checkers: label smoothing, calibration error, an AdamW step
  ``exercises.inspection``            08's checkers: per-class accuracy, the most confused pair, Grad-CAM by hand

``storage/`` — files that survive crashes
  ``storage.checkpoints``             the one training-checkpoint type, saved atomically, loaded safely
  ``storage.folders``                 folders that appear whole or not at all
  ``storage.cache``                   caches named after a hash of their inputs
  ``storage.image_files``             open any image as RGB; find the files that cannot be read
"""

__version__ = "0.1.0"
__all__: list[str] = []  # a map, not an API: import the modules by name
