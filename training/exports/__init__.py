"""Dataset exports, apart from the services that run them (training/services/exports.py).

- `filters`: which examples an export takes (`ExportFilters`) and the help text that explains them;
- `plan`: the balancing and the seeded, stratified train/validation split, decided on ids alone;
- `records`: the columns an export reads and how one row becomes a training record;
- `trainer_files`: the files beside the data for trainers (LLaMA-Factory, Axolotl, TRAINING_GUIDE.md);
- `writer`: the streamed, hashed files of one export and its manifest.
"""
