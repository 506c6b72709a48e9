#!/usr/bin/env python3
"""Holds every FIS template drillbit makes to botocore's own validation of
CreateExperimentTemplate (the service model AWS publishes for the SDKs).

Usage: check-fis-templates.py DRILLBIT SCENARIO...  (run with the moto venv's python, which
has botocore). Each scenario's `drillbit fis-template` output (one template, or a map of
region to template) is validated; exit 1 on any problem, naming the file and region.
"""
import json
import subprocess
import sys

import botocore.session
from botocore.validate import ParamValidator


def templates(out):
    doc = json.loads(out)
    if "actions" in doc:
        return {"(primary)": doc}
    return doc


def main():
    drillbit, files = sys.argv[1], sys.argv[2:]
    model = botocore.session.get_session().get_service_model("fis")
    shape = model.operation_model("CreateExperimentTemplate").input_shape
    validator = ParamValidator()
    bad = 0
    checked = 0
    for f in files:
        run = subprocess.run([drillbit, "fis-template", f], capture_output=True, text=True)
        if run.returncode != 0:
            print(f"{f}: drillbit fis-template failed: {run.stderr.strip()}")
            bad += 1
            continue
        for region, tpl in templates(run.stdout).items():
            params = dict(tpl, clientToken="drillbit-check")
            report = validator.validate(params, shape)
            checked += 1
            if report.has_errors():
                print(f"{f} ({region}): {report.generate_report()}")
                bad += 1
    print(f"botocore: {checked} FIS templates of {len(files)} scenarios checked, {bad} with problems")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
