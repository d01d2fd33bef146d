"""Configuration: a YAML file validated by JSON Schema, embedded defaults, FAKEMMS_* overrides.

Parts: ``schema`` (the JSON Schema and the defaults), ``environment`` (the FAKEMMS_* table),
``loading`` (file, environment and overrides merged and validated; accounts from dicts).
"""

from fakemms.config.environment import ENV_VARS, EnvVar, setting_name, unknown_env_names
from fakemms.config.loading import (
    Config,
    account_from_dict,
    account_problems,
    format_error,
    load_config,
    merge,
    read_yaml,
    schema_problems,
    validate,
)
from fakemms.config.schema import (
    ACCOUNT_SCHEMA,
    DEFAULTS,
    DLR_PROTOCOLS,
    HTTP_DEFAULTS,
    MO_FORMATS,
    SCHEMA,
    SECRET_SETTINGS,
)

__all__ = ["ACCOUNT_SCHEMA", "DEFAULTS", "DLR_PROTOCOLS", "ENV_VARS", "HTTP_DEFAULTS",
           "MO_FORMATS", "SCHEMA", "SECRET_SETTINGS", "Config", "EnvVar", "account_from_dict",
           "account_problems", "format_error", "load_config", "merge", "read_yaml",
           "schema_problems", "setting_name", "unknown_env_names", "validate"]
