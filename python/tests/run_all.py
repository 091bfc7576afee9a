"""Runs every Python unit test (unittest discovery in python/tests) and writes the counts as JSON, for
scripts/test-all.mjs:  /usr/bin/python3 python/tests/run_all.py artifacts/python-tests.json
A test module that fails to import counts as a failed test (unittest reports it as an error)."""
import json
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


def main(out):
    sys.path.insert(0, os.path.dirname(HERE))
    suite = unittest.defaultTestLoader.discover(HERE, pattern='test_*.py', top_level_dir=os.path.dirname(HERE))
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    counts = {'passed': result.testsRun - failed - skipped, 'failed': failed, 'skipped': skipped}
    if out:
        with open(out, 'w') as f:
            json.dump(counts, f)
    print(f"python: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")
    return 0 if failed == 0 else 1


if __name__ == '__main__':
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else None))
