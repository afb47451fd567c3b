"""Helpers for the course's notebooks: the map.

Rooms that each change for one reason, plus a few small modules every room uses. Imports go
one way: ``models`` ← ``training`` ← ``transfer`` ← ``command``; ``analysis`` reads models and data
and imports no training code. Import modules by
name (``from course_utils.lessons.conv import conv_geometry``); importing the package itself
loads nothing heavy.

``env``                               the run context, decided once: device, precision, workers, data folder, fast/offline
``context``                           the ``RunContext`` class that ``env.run_context`` fills (ranks under torchrun too)
``progress``                          progress in a log file: a plain line every tenth of a long step
``__main__``                          ``python -m course_utils train|evaluate|predict``: the command line
``arguments``                         argument checks and error quoting shared by every part
``i18n``                              the learner's language (English, 简体中文) for checkers and explorers: ``_()``
``reading``                           further reading: the papers and courses the notebooks rest on, listed once (09, README)

``lessons/`` — notebooks 01–05, one idea per module
  ``lessons.conv``                    output sizes, window positions, a convolution by hand (01)
  ``lessons.pooling``                 max and average pooling by hand (02)
  ``lessons.summary``                 per-layer table, parameter and FLOP counts (03)
  ``lessons.receptive_field``         the receptive-field recurrence, layer by layer (04)
  ``lessons.receptive_field_probe``   the receptive field measured by a gradient (04)
  ``lessons.architectures``           the notes' first CNN, plain and residual networks (05)
  ``lessons.pictures``                a real photograph offline; drawings of tensors, windows, fields
  ``lessons.grid_pictures``           stride, padding and pooling: input and output grids side by side (01, 02)
  ``lessons.volumes``                 volumes in 3-D: a kernel cube on its input, stacked fields (01, 04)
  ``lessons.diagrams``                diagrams drawn from the shapes the lessons compute (03, 05)
  ``lessons.transfer_recipe``         the two-stage transfer recipe: what is frozen, what trains, which rate (06)
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

``models/`` — pretrained networks by name (06–08, the command)
  ``models.registry``                 one record per model: normalisation, input size, classifier, offline or not
  ``models.build``                    ``build_model``: a pretrained network by name with a new head
  ``models.heads``                    find, replace, record and freeze around a model's head
  ``models.efficientnet_lite``        the offline ImageNet backbones (Lite0, Lite1, Lite2)
  ``models.ensemble``                 several backbones, one head on all their features (``"a+b"``)
  ``models.backbone``                 the frozen backbone for inference (head removed, BatchNorm folded)
  ``models.stages``                   a backbone cut before its last stage (EfficientNet-Lite, ResNet)
  ``models.forward``                  running a model on the context's device: layout, precision, no autograd

``training/`` — the training loop and what it needs (05–08)
  ``training.loop``                   ``fit``: the notes' ``train_model`` grown up; ``evaluate``
  ``training.notes_code``             the notes' own ``train_model``, ``initialize_model``, ``set_parameter_requires_grad`` (05, 06)
  ``training.batches``                ``fit``'s small steps: argument checks, batches, losses
  ``training.history``                what a run measured, epoch by epoch
  ``training.resume``                 the one checkpoint builder, and resuming from it
  ``training.randomness``             random generators saved and restored for exact resumes
  ``training.distributed``            torchrun: process group, DDP, sharded loaders, metrics over all ranks
  ``training.schedules``              optimizers and learning-rate schedules by name (07)
  ``training.lr_finder``              the learning-rate range test (07)
  ``training.rate_sweep``             a log grid of rates, widened until the best rate lies inside it (07)

``transfer/`` — transfer learning: the capstone's recipe (06, the command, the benchmark)
  ``transfer.recipe``                 ``TransferConfig``: every number of the recipe, once; its two optimizers
  ``transfer.features``               stage 1 on cached backbone features
  ``transfer.stages``                 stage 1 and stage 2, each one call
  ``transfer.run``                    ``run_transfer``: the one orchestrator of the whole recipe
  ``transfer.freezing``               how much to freeze for how much data: the experiment's grid (06)

``analysis/`` — what a trained model tells (06–08); imports no training code
  ``analysis.predictions``            predictions on a data set and on one photo, accuracy, top-5
  ``analysis.confusion``              the confusion matrix made readable: per-class scores, confused pairs (08)
  ``analysis.plots``                  plots of data batches, histories and predictions
  ``analysis.calibration``            expected calibration error, reliability diagram, temperature scaling (07)
  ``analysis.gradcam``                Grad-CAM: where the network looked (08)
  ``analysis.faithfulness``           is a Grad-CAM map faithful? the occlusion test (08)
  ``analysis.activations``            feature maps captured with hooks, first-layer kernels as pictures (08)
  ``analysis.seeds``                  several seeds per setting, and the course's one rule for "within the noise"
  ``analysis.decisions``              07's answer table (which optimizer, schedule, loss) from per-seed results, saved and rebuilt (09)

``command/`` — ``python -m course_utils`` (``cnn-course``)
  ``command.options``                 the options, generated from ``TransferConfig``'s fields
  ``command.main``                    parse, decide the context, run; one-line errors
  ``command.from_checkpoint``         evaluate a checkpoint, predict image files

``exercises/`` — checkers for the exercises at the end of each notebook, and for its predictions
  ``exercises.verdict``               what every checker shares: NotDone, Verdict, the @checker decorator
  ``exercises.prediction``            predict, then run: comparing a prediction, naming the usual slips
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
