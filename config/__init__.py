"""The program's stack configuration: Pulumi.<stack>.yaml files (the stackConfigDir) and
settings.py, the one reader of pulumi.Config, which validates every key before any resource."""
