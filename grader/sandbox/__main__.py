"""`python -m grader.sandbox check`: can this machine sandbox student code?"""

import sys

from grader.sandbox.execute import main

sys.exit(main())
