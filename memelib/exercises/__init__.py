"""Checks for the notebooks' "Your turn" exercises: each says what is right, or what is wrong and a hint.

Every check prints one verdict and returns True/False, and never raises because of the learner's
answer: an unfinished answer (`...`), a wrong type or a function that crashes all get a hint.
One module per notebook: data (00), tokens (01), tensors (02), encoders (03), fusion (04), training (05),
analysis (06, 07).

The notebooks hold worked answers between `### BEGIN SOLUTION` and `### END SOLUTION`, in cells marked for
nbgrader; `make student` (`python -m memelib.exercises student notebooks student`) writes copies without them
(see memelib.exercises.student).
"""

from .analysis import check_group_fpr, check_precision_recall
from .data import check_twins
from .encoders import check_cosine_similarity
from .fusion import check_fusion_choice
from .student import make_student_notebooks, mark_solution_cells, strip_prose, strip_solutions
from .tensors import check_shapes
from .tokens import check_masked_mean
from .training import check_class_weights
from .verdict import PLACEHOLDER

__all__ = [
    "check_twins",
    "check_masked_mean",
    "check_shapes",
    "check_cosine_similarity",
    "check_fusion_choice",
    "check_class_weights",
    "check_precision_recall",
    "check_group_fpr",
    "strip_solutions",
    "strip_prose",
    "mark_solution_cells",
    "make_student_notebooks",
    "PLACEHOLDER",
]
