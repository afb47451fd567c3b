"""The training pipeline: models, the training loop, transfer learning, evaluation.

- ``training``: ``fit``, the notes' ``train_model`` grown up.
- ``models``: pretrained models by name with a new head; ``efficientnet_lite``: the offline backbone.
- ``features``: stage 1 on cached backbone features.
- ``transfer``: the two-stage recipe, one config for the notebook, the command and the benchmark.
- ``evaluation``: accuracy, top-5, confusions, predictions.
- ``loaders``: DataLoader settings from the run context.
"""
