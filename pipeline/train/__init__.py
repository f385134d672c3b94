"""The train stage: fit and judge, one MLflow run, the registered model and the champion gate."""
