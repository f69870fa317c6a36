"""What decides a grade and names a mistake, on the instructor's side.

The reference implementation (`reference`), the maths it is built from (`numeric`,
`netmath`), the hidden cases with their derivatives (`cases`), the misconception variants
(`diagnose`), the right answers of each case (`expect`) and the truth the hidden checks
compare with (`hidden`). Imports only numpy and the student package `backprop_checks`.
"""
