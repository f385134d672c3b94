"""Spark's Python side and its JVM jars are one release (a package that ships only the Python
files, such as pyspark-client, must not leave them at another version than the jars)."""

from __future__ import annotations

import re
from pathlib import Path

import pyspark


def test_python_and_jvm_sides_of_spark_are_one_version() -> None:
    jars = Path(pyspark.__file__).parent / "jars"
    found = {
        m.group(1)
        for jar in jars.glob("spark-core_*.jar")
        if (m := re.fullmatch(r"spark-core_[\d.]+-(\d+\.\d+\.\d+)\.jar", jar.name))
    }
    assert found, f"no spark-core jar in {jars}"
    assert found == {pyspark.__version__}, f"pyspark {pyspark.__version__}, jars {found}"
