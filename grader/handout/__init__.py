"""The class path: what students get instead of the repository.

`backprop-grader handout` (`make handout`) builds `dist/handout/`: the student wheel
(distribution `backprop-course-checks`, import package `backprop_checks`, built from
`student/`) and one zip per assignment for an LMS. The wheel holds no solution: the visible
examples' expected values and the values of each misconception variant on them are computed
here, from the instructor's package, and shipped as data (`data.build_visible_data`).
"""
