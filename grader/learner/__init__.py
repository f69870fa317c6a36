"""What a learner runs on their own machine: their workspace of notebooks (`workspace`,
`make lab`) and checking a notebook as the grader would (`selfcheck`, `make selfcheck`)."""
