"""What decides a grade and names a mistake, on the instructor's side.

`functions/`: one record per student function (its arguments, cases, right answers, known
wrong formulas, hints; start here, docs/extending.md). Read by: `cases` (the visible and
hidden cases, numbered from the records' examples; `inputs`: what they are drawn from),
`expect` (the right answers of each case), `diagnose` (the misconception variants) and
`hidden` (the truth the hidden checks compare with). The reference implementation
(`reference`) and the maths it is built from (`numeric`, `netmath`). Imports only numpy and
the student package `backprop_checks`.
"""
