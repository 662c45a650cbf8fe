"""The quiz at the end of every notebook: a few multiple-choice questions, checked on the spot, offline.

    from memelib.exercises.quiz import quiz
    quiz("04")                    # the quiz of notebook 04, as a widget

Nothing is graded or stored: the learner picks an answer per question and clicks "Check my answers"; each
answered question then says "Right." or "Not quite:" followed by why the right answer is right, and an
unanswered one says "Choose an answer" (it shows no explanation, so it gives nothing away). The questions live
in `memelib.exercises.quiz_bank`.

Why not `jupyterquiz`: it draws its quizzes with JavaScript outputs, which JupyterLab runs only in trusted
notebooks, and its README says its LaTeX is broken in JupyterLab 4. So the quiz is built from plain ipywidgets,
as `memelib.widgets` builds its widgets: stable CSS classes (`memelib-quiz`, `memelib-quiz-options`,
`memelib-quiz-feedback`, `memelib-quiz-check`, `memelib-quiz-score`), no Output widget, and callbacks that
tests call without a kernel (`Quiz.choose`, `Quiz.check`).
"""

from __future__ import annotations

import html
import re
from typing import Sequence

import ipywidgets as widgets

from .quiz_bank import QUIZZES, Question

__all__ = ["Question", "Quiz", "QuizBox", "QUIZZES", "quiz"]

# Options are labels of fixed height by default (one line): let a long one wrap instead of overlapping the next;
# text that wraps gets the line spacing of prose, not of a widget row. The feedback line is green when right,
# red when not, grey while an answer is missing.
CSS = ("<style>.memelib-quiz-options label { height: auto; min-height: 20px; line-height: 1.4; white-space: normal; }"
       " .memelib-quiz .widget-html-content { line-height: 1.4; }"
       " .memelib-quiz-right { color: #1b6e2e; } .memelib-quiz-wrong { color: #a1261b; }"
       " .memelib-quiz-missing { color: #666666; }</style>")
VERDICT_CLASSES = ("memelib-quiz-right", "memelib-quiz-wrong", "memelib-quiz-missing")


class QuizBox(widgets.VBox):
    """The quiz's VBox, whose text form is "Quiz: notebook 04, 4 questions": that is the cell's `text/plain`
    output, which nbval compares, so it stays the same whatever the questions' wording or the style sheet."""

    def __init__(self, children: Sequence[widgets.Widget], text: str):
        super().__init__(list(children))
        self.text = text

    def __repr__(self) -> str:
        return self.text


def markup(text: str) -> str:
    """`text` as HTML: escaped, with `backticks` shown as code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text, quote=False))


class Quiz:
    """Multiple-choice questions with a "Check my answers" button; `widget` is what a notebook displays.

        q = Quiz(QUIZZES["04"], "Quiz: notebook 04")
        q.widget                   # display it
        q.choose(0, 2); q.check()  # the same from code: pick option 2 of question 0, then check (returns the score)
    """

    def __init__(self, questions: Sequence[Question], title: str):
        if not questions:
            raise ValueError("a quiz needs at least one question")
        self.questions = tuple(questions)
        self.choices: list[widgets.RadioButtons] = []  # one per question: the learner's answer (index None: none yet)
        self.feedback: list[widgets.HTML] = []  # one per question: empty until checked
        rows: list[widgets.Widget] = []
        for n, question in enumerate(self.questions):
            prompt = widgets.HTML(f"<b>{n + 1}.</b> {markup(question.prompt)}",
                                  layout=widgets.Layout(margin="12px 2px 2px"))  # a gap above each question
            prompt.add_class("memelib-quiz-prompt")
            choice = widgets.RadioButtons(options=question.options, value=None, layout=widgets.Layout(width="100%"))
            choice.add_class("memelib-quiz-options")
            choice.observe(lambda _change, i=n: self._forget(i), names="value")
            feedback = widgets.HTML("")
            feedback.add_class("memelib-quiz-feedback")
            self.choices.append(choice)
            self.feedback.append(feedback)
            rows += [prompt, choice, feedback]
        self.button = widgets.Button(description="Check my answers", icon="check",
                                     layout=widgets.Layout(width="auto", align_self="flex-start"))
        self.button.add_class("memelib-quiz-check")
        self.button.on_click(lambda _button: self.check())
        self.score = widgets.HTML("")
        self.score.add_class("memelib-quiz-score")
        self.widget = QuizBox([widgets.HTML(CSS), widgets.HTML(f"<b>{html.escape(title)}</b>"), *rows, self.button,
                               self.score], f"{title}, {len(self.questions)} questions")
        self.widget.add_class("memelib-quiz")

    def choose(self, i: int, option: int | None) -> None:
        """Pick option `option` of question `i` (None: no answer), as a click on its radio button does."""
        self.choices[i].index = option

    def check(self) -> int:
        """Mark every answered question right or not, as the "Check my answers" button does; returns how many
        are right. An unanswered question only asks for an answer: its explanation would give the answer away."""
        right = missing = 0
        for question, choice, feedback in zip(self.questions, self.choices, self.feedback):
            if choice.index is None:
                missing += 1
                self._show(feedback, "memelib-quiz-missing", "Choose an answer, then check again.")
            elif choice.index == question.answer:
                right += 1
                self._show(feedback, "memelib-quiz-right", f"Right. {markup(question.why)}")
            else:
                self._show(feedback, "memelib-quiz-wrong", f"Not quite: {markup(question.why)}")
        unanswered = f" ({missing} not answered yet)" if missing else ""
        self.score.value = f"<b>{right} of {len(self.questions)} right</b>{unanswered}"
        return right

    @staticmethod
    def _show(feedback: widgets.HTML, verdict: str, text: str) -> None:
        for name in VERDICT_CLASSES:
            (feedback.add_class if name == verdict else feedback.remove_class)(name)
        feedback.value = text

    def _forget(self, i: int) -> None:
        """A new answer to question `i`: its old verdict, and the score, no longer hold."""
        self._show(self.feedback[i], "", "")
        self.score.value = ""


def quiz(notebook: str) -> QuizBox:
    """The quiz of notebook `notebook` (a key of QUIZZES, e.g. "04"), ready to display: `quiz("04")` as a cell's
    last line."""
    if notebook not in QUIZZES:
        raise ValueError(f"no quiz for notebook {notebook!r}; there are quizzes for {', '.join(sorted(QUIZZES))}")
    return Quiz(QUIZZES[notebook], f"Quiz: notebook {notebook}").widget
