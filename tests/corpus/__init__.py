"""A corpus of students' answers for the checks' tests: right ones written in other styles
(`right.py`) and wrong ones, each showing one misconception of the spec's table (`wrong.py`).
Nothing here imports grader.judge.reference: the reference-free test runs these too."""
