"""Checks for the notebooks' "Your turn" exercises: each says what is right, or what is wrong and a hint.

Every check prints one verdict and returns True/False, and never raises because of the learner's
answer: an unfinished answer (`...`), a wrong type or a function that crashes all get a hint.
One module per notebook: data (00), tokens (01), tensors (02), encoders (03), fusion (04), training (05),
analysis (06, 07), explain (08); the notebooks import their checks from it (`from memelib.exercises.tokens import ...`).

The notebooks hold worked answers between `### BEGIN SOLUTION` and `### END SOLUTION`, in cells marked for
nbgrader; `make student` (`python -m memelib.exercises student notebooks student`) writes copies without them
(see memelib.exercises.student).
"""

from .analysis import check_bootstrap_interval, check_group_fpr, check_policy_threshold, check_precision_recall
from .data import check_label_rule, check_twins
from .encoders import check_attention, check_cosine_similarity
from .explain import check_deletion_drop, check_integrated_gradients
from .fusion import check_auroc_pairs, check_late_fusion
from .student import make_student_notebooks, mark_solution_cells, strip_prose, strip_solutions
from .tensors import check_cross_entropy, check_shapes
from .tokens import check_masked_mean, check_pad_batch
from .training import check_training_loop, check_weighted_loss
from .verdict import PLACEHOLDER

__all__ = [
    "check_twins", "check_label_rule",                            # 00
    "check_masked_mean", "check_pad_batch",                       # 01
    "check_shapes", "check_cross_entropy",                        # 02
    "check_cosine_similarity", "check_attention",                 # 03
    "check_late_fusion", "check_auroc_pairs",                     # 04
    "check_weighted_loss", "check_training_loop",                 # 05
    "check_precision_recall", "check_policy_threshold",           # 06
    "check_group_fpr", "check_bootstrap_interval",                # 07
    "check_integrated_gradients", "check_deletion_drop",          # 08
    "strip_solutions", "strip_prose", "mark_solution_cells", "make_student_notebooks", "PLACEHOLDER",
]
