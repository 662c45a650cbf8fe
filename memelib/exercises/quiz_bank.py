"""The questions of the quizzes at the end of notebooks 00-07: what each notebook teaches, asked back.

Plain data (no widgets): `memelib.exercises.quiz` shows them. Each right answer is true of the notebook's
code and saved outputs, and tests/test_quiz.py recomputes with memelib every answer it can. SynthMemes is a
teaching world and its groups are invented: no question claims for real memes what only SynthMemes shows.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Question", "QUIZZES"]


@dataclass(frozen=True)
class Question:
    """One multiple-choice question: `options[answer]` is right; `why` is shown once the learner has answered.

    Text in backticks (`like this`) in `prompt` and `why` is shown as code; `options` are plain text."""

    prompt: str  # the question, one or two sentences
    options: tuple[str, ...]  # 3 or 4 distinct answers, each short enough for one line
    answer: int  # index of the right option
    why: str  # why the right answer is right, and the notebook section that shows it

    def __post_init__(self) -> None:
        if not 3 <= len(self.options) <= 4 or len(set(self.options)) != len(self.options):
            raise ValueError(f"a question needs 3 or 4 distinct options: {self.prompt!r}")
        if not 0 <= self.answer < len(self.options) or not self.why.strip():
            raise ValueError(f"a question needs a valid answer index and a why: {self.prompt!r}")


Q = Question  # short, for the bank below

QUIZZES: dict[str, tuple[Question, ...]] = {
    "00": (
        Q("The caption \"zorblats will never have this\" is drawn over a feast, a pleasant picture. What is the "
          "meme's SynthMemes label?",
          ("Benign: the caption alone attacks nobody",
           "Benign: a pleasant picture makes any meme harmless",
           "Hateful: \"never\" over a pleasant picture",
           "Hateful: a caption that names a group is always hateful"), 2,
          "For \"is\" and \"never\" the rule is an XOR of frame and valence: \"never\" + pleasant is hateful, the "
          "same caption over a mud pit is benign (section \"The rule\")."),
        Q("Why can a model that reads only the caption not tell a hateful meme from its image-swap twin?",
          ("It is the same caption: the same input, with the other label",
           "The twin's caption has words the tokenizer cannot spell",
           "Image-swap twins are only in the training split, never in dev",
           "The twin's label was flipped on purpose by the label noise"), 0,
          "An image swap keeps the caption and puts it on a picture of the other valence (the triplet in section "
          "\"SynthMemes: hateful memes, their benign twins\"), so only the picture tells the two apart."),
        Q("About one training label in seven differs from the rule, on purpose. What follows?",
          ("Dev and test scores are lowered by the same flipped labels",
           "Those memes are dropped before training starts",
           "A well-trained model should fit every training label anyway",
           "Dev and test keep the true labels, so they measure the task"), 3,
          "Counted from `meta.jsonl` in section \"The rule\": 135 of 900 training labels differ from the rule, none "
          "in dev or test_seen. The noise stands for annotators who disagree, and it is in training only."),
        Q("In training, many quibbits triplets lost both benign twins. What shortcut can a model learn from that?",
          ("\"Pleasant pictures are hateful\", so it misses hateful memes of every group",
           "\"This name means hateful\", so it flags quibbits' benign memes",
           "None: a model does not notice how often a name comes with a label",
           "\"This name is harmless\", so it misses hateful memes about quibbits"), 1,
          "Without twins, that group's name comes with the hateful label far more often than the others' "
          "(section \"A bias in the training split\"); notebook 07 measures the false positives it causes."),
        Q("A benign meme wrongly removed is a false positive. Whom does it harm most directly?",
          ("Nobody: removing too much is always the safe side",
           "Its author, often a member of the group the meme talks about",
           "The people the meme targets, because an attack stays up",
           "Only the moderators, who must review it once more"), 1,
          "A wrong removal silences its author, often someone talking about their own community; a hateful meme "
          "left up is the other mistake, which hurts its targets (section \"Who is harmed by each mistake\")."),
    ),
    "01": (
        Q("A short caption is encoded in a padded batch, with its attention mask. Compared with the same caption "
          "encoded alone, its real tokens' vectors are:",
          ("Shifted a little, because attention also reads the [PAD] tokens",
           "All zero, because the mask multiplies them by 0",
           "The same, and the vectors at the [PAD] positions are zero too",
           "The same, up to float rounding"), 3,
          "With the mask, real tokens never attend to `[PAD]`: the differences were around a millionth, while an "
          "all-ones mask moved every vector. The `[PAD]` positions still get vectors that are not zero (section "
          "\"What the mask does inside the encoder\")."),
        Q("Why does a plain mean over all L positions give the same caption another vector in another batch?",
          ("It averages in the [PAD] vectors, as many as the batch needs",
           "The tokenizer gives the caption other ids in another batch",
           "Dropout changes the token vectors from one batch to the next",
           "The encoder normalises every batch by its own mean"), 0,
          "The vectors at padding positions are not zero and their number depends on the batch's longest caption, "
          "so the plain mean moved while the masked mean did not (section \"Why the mask matters\")."),
        Q("No vocabulary has the invented word \"zorblats\". What does the WordPiece tokenizer do with it?",
          ("Replaces the whole word by one [UNK] token",
           "Drops it, and keeps the words it knows",
           "Spells it from known pieces: z ##or ##bla ##ts",
           "Adds it to the vocabulary as a new entry with a new id"), 2,
          "A word missing from the vocabulary is split, greedily from the left, into the longest pieces that are in "
          "it; `[UNK]` is for what no pieces can spell, such as an emoji (section \"A SynthMemes caption\")."),
        Q("`states` has shape (B, L, D) and `attention_mask` (B, L). Which product sets the vectors at the padding "
          "positions to zero?",
          ("states * attention_mask",
           "states * attention_mask.unsqueeze(-1)",
           "states * attention_mask.unsqueeze(0)",
           "states.sum(dim=1) * attention_mask"), 1,
          "Broadcasting lines shapes up from the right: (B, L, 1) repeats each token's mask value over its D "
          "numbers, while (B, L) lines L up against D and fails (section on `unsqueeze` and broadcasting)."),
        Q("A long caption is truncated with `max_length=8`. What are its first and last tokens?",
          ("[CLS] and the caption's seventh piece",
           "The caption's first word and [SEP]",
           "[CLS] and [SEP]",
           "[CLS] and [PAD]"), 2,
          "The tokenizer keeps `[CLS]` (id 101) at the start and ends the cut caption with `[SEP]` (id 102), "
          "`max_length` tokens in all (section \"Truncation\")."),
    ),
    "02": (
        Q("The course's full design concatenates DistilBERT's [CLS] vector and ResNet50's pooled features. How "
          "many numbers does the fusion MLP's first layer read per meme?",
          ("2816 (768 + 2048)", "2048, the wider of the two", "1536 (768 x 2)", "896 (384 + 512)"), 0,
          "Concatenation puts the two vectors side by side: Dt + Di = 768 + 2048, the `in_features` of the full "
          "head's first `Linear` (section \"The course's full design\"); 896 is the offline preset's 384 + 512."),
        Q("The same batch is read at 256 px instead of 128 px. Which tensors that the model computes from the "
          "pixels change shape?",
          ("Every tensor after the image: image_features, fused and logits too",
           "None: the ResNet resizes every image to 128 px first",
           "image_features, whose width Di doubles with the image",
           "Only the feature map (B, Di, h, w)"), 3,
          "The ResNet shrinks the image 32 times in each direction (4 x 4 at 128 px, 8 x 8 at 256 px), then "
          "averages over the positions, so (B, Di) is the same at any size (\"Your turn: predict the shapes\")."),
        Q("Why do models end with logits, and leave the softmax to the loss?",
          ("Logits always lie between 0 and 1, which the loss needs",
           "A softmax has no gradient, so training cannot pass through it",
           "log_softmax never takes the log of a probability rounded to 0",
           "Probabilities would take twice the memory of logits"), 2,
          "For logits (1000, 0) and true class 1, the log of `torch.softmax` gave an infinite loss and "
          "`F.cross_entropy` the right 1000 (section \"Why the model outputs logits, not probabilities\")."),
        Q("An untrained head gives every meme about 50/50. What cross-entropy does it get, roughly?",
          ("log 2, for either true class", "0: it makes no confident mistake", "1.0, the largest loss there is",
           "0.5, the probability it gives the true class"), 0,
          "Cross-entropy is minus the log of the probability of the true class, and -log 0.5 = log 2 (section "
          "\"From logits to a loss\"); the untrained model's real batch scored close to it."),
    ),
    "03": (
        Q("After `model.lock_encoders()` and then `model.train()`, what trains?",
          ("Everything, the towers at a smaller learning rate",
           "Only the two towers, while the head stays fixed",
           "The head, with the towers' dropout and BatchNorm back in training mode",
           "Only the fusion head; the towers stay in eval mode"), 3,
          "`lock_encoders` turns off the towers' gradients and keeps them in evaluation mode even under "
          "`model.train()`: 0 trainable weights left in each tower (section \"3. Frozen encoders\")."),
        Q("You add an exclamation mark to one dev caption and call `cached_features` again. What happens?",
          ("The old file is reused: only the images are hashed",
           "The data fingerprint changes: the features are extracted again",
           "Only that meme's text vector is recomputed in the old file",
           "It fails: the cache folder already holds a file for dev"), 1,
          "The cache key hashes every record's id, image path and caption, the bytes of every image and every "
          "encoder weight, so a stale file is never reused (section \"4b. How the cache key works\")."),
        Q("The word \"bank\" in \"the river bank\" and in \"the bank raised its rates\": how do its vectors compare?",
          ("Different input embeddings, and the same output vector",
           "The same input embedding, different output vectors",
           "The same vector before and after the encoder",
           "Different ids: the tokenizer tells the two meanings apart"), 1,
          "Its input embeddings were identical and its output vectors had a cosine of about 0.8: self-attention "
          "builds each token's vector from the whole caption (section \"2b. Self-attention\")."),
        Q("Linear probes read the frame from the text features and the valence from the image features almost "
          "perfectly, yet neither reads the label. Why?",
          ("The feature vectors are too short to hold the label",
           "The probes saw too few memes to learn the label",
           "SynthMemes' dev labels are drawn at random",
           "The label is an XOR: each tower knows one of its two inputs"), 3,
          "For \"is\" and \"never\" captions, flipping either the frame or the valence flips the label, so one of "
          "them alone says nothing about it: a model must combine the towers (the probe table of section 5)."),
        Q("Why does attention divide the scores Q K^T by sqrt(d)?",
          ("Else wide vectors give large scores, and one token gets all the weight",
           "So that each row of attention weights sums to 1",
           "So that the output is as wide as the input",
           "So that the [PAD] tokens get a weight of 0"), 0,
          "The softmax already makes every row sum to 1; the division keeps the scores of wide vectors in a range "
          "where the weights stay spread over several tokens (section \"2b. Self-attention\")."),
    ),
    "04": (
        Q("Why can late fusion not learn the XOR of a caption's frame and a picture's valence?",
          ("It has fewer weights than the concat head",
           "It never sees the picture, only the caption",
           "Its score is a sum f(t) + g(i): no interaction",
           "Early stopping ends its training too soon"), 2,
          "For any f and g, s(t1, i1) + s(t2, i2) = s(t1, i2) + s(t2, i1): the two hateful pairs always add up to "
          "the two benign ones, and the trained late head's interaction was 0 (sections 6 and 7)."),
        Q("On dev (95 hateful memes of 300), a lazy \"model\" calls every meme not hateful. Which number exposes it?",
          ("Accuracy: about two thirds right",
           "Hateful recall: 0",
           "Recall of the benign class: 1.0",
           "F1 of the benign class: over 0.8"), 1,
          "Accuracy flatters it, two thirds right for learning nothing; it finds none of the hateful memes, which "
          "hateful recall, macro-F1 (about 0.4) and AUROC (0.5) expose (section 3)."),
        Q("Against the benign_image_swap twins, the text head's AUROC is 0.5. Why?",
          ("The text head was never trained on dev memes",
           "The image-swap twins are labelled hateful by mistake",
           "Same caption, same score: the two sets of scores are identical",
           "Any head scores 0.5 against a meme's own twins"), 2,
          "A twin has its hateful meme's caption, hence the same text vector and probability: a hateful meme ranks "
          "above a twin as often as below, a tie counting half (section 5). Concat and cross scored far above 0.5."),
        Q("On the real Hateful Memes data, how did Concat BERT compare with late fusion and with the caption alone?",
          ("No better: always compare with the text-only baseline",
           "Far better, just as concat beats late fusion on SynthMemes",
           "As accurate as the human annotators of the test set",
           "Worse than a model that looks at the picture only"), 0,
          "In Kiela et al. (2020) Concat BERT scored about the dev AUROC of late fusion and of Text BERT. "
          "SynthMemes was built so that the picture matters; real memes follow no such rule (\"What to expect on "
          "real memes\")."),
    ),
    "05": (
        Q("A training loop never calls `optimizer.zero_grad()`. What goes wrong?",
          ("Every gradient stays zero, so nothing trains",
           "The learning rate stays at 0 for the whole run",
           "Nothing: optimizer.step() empties .grad by itself",
           "Each step also carries all earlier batches' gradients"), 3,
          "`backward` adds to `.grad`: a second backward without emptying it gave the new gradient plus the old "
          "one (section \"2a. Gradients and one optimisation step\")."),
        Q("The gradients are (3, 4, 12) and `max_grad_norm` is 1.0. What does `clip_grad_norm_` leave?",
          ("(1, 1, 1): each number capped at 1",
           "(3, 4, 12): clipping only acts on single huge numbers",
           "(3, 4, 12) / 13: same direction, length 1",
           "(3, 4, 12) / 12: each divided by the largest"), 2,
          "It measures the length of all gradients together, 13 here, and scales them all down to `max_grad_norm`, "
          "keeping their direction (section \"2d. Gradient clipping\")."),
        Q("With class weights and the default reduction, what does `nn.CrossEntropyLoss(weight=w)` return for a "
          "batch?",
          ("The weighted sum, divided by the sum of the weights",
           "The weighted sum, divided by the batch size B",
           "The plain mean: the weights only change the gradients",
           "The weighted sum of the memes' losses, not divided at all"), 0,
          "PyTorch divides by the sum of the weights of the batch's memes, so a batch's loss stays an average "
          "whatever mix of classes it holds (\"Your turn: the class-weighted loss\")."),
        Q("The offline preset trains with `patience` 6. When does `fit` stop, and which weights does it keep?",
          ("After 6 epochs in all; it keeps the last epoch's weights",
           "When the training loss stops falling; it keeps the last weights",
           "When dev AUROC reaches 1.0; it keeps the best weights",
           "After 6 epochs with no better dev AUROC; it keeps the best"), 3,
          "Early stopping watches dev AUROC, and `fit` restores the weights of the best epoch, not the last one, "
          "before it tunes the threshold and saves the run (section \"3. Curves and early stopping\")."),
        Q("What did class weights change in this notebook's full-budget runs?",
          ("A clearly higher AUROC than without them",
           "At 0.5: higher hateful recall, lower precision",
           "Fewer false positives at every threshold",
           "Nothing: the weights cancel out in the mean"), 1,
          "Weights of N / (C * count) make both classes weigh the same in the loss in total, which moves the "
          "probabilities towards \"hateful\"; the ranking, AUROC, did not get clearly better (section 5)."),
    ),
    "06": (
        Q("You lower the threshold from 0.5 to 0.3. What happens to the hateful recall and to the false positives?",
          ("Recall falls, and false positives fall",
           "Recall rises or stays; false positives rise or stay",
           "Recall rises, and false positives fall",
           "Neither moves: the model is the same"), 1,
          "A lower threshold flags every meme it flagged before, and maybe more: more hateful memes caught, more "
          "benign ones flagged (the widget driven from code in section 5, and the table of section 7)."),
        Q("The report shows the same AUROC at threshold 0.5 and at the tuned threshold. Why?",
          ("The threshold was tuned so as to keep the AUROC",
           "Both thresholds flag exactly the same memes",
           "AUROC is measured on the training split only",
           "AUROC uses only the order of the probabilities"), 3,
          "AUROC is the chance that a random hateful meme gets a higher P(hateful) than a random benign one; "
          "accuracy, F1, precision and recall are numbers at a threshold (section 2)."),
        Q("A confusion matrix [[tn, fp], [fn, tp]] is [[80, 20], [10, 30]]. What are the hateful precision and "
          "recall?",
          ("Precision 0.6, recall 0.75",
           "Precision 0.75, recall 0.6",
           "Precision 0.3, recall 0.75",
           "Precision 0.6, recall 0.3"), 0,
          "Precision: of the 50 memes flagged, 30 are hateful; recall: of the 40 hateful memes, 30 are flagged "
          "(\"Your turn: precision and recall from a confusion matrix\")."),
        Q("A policy says \"catch at least 90% of the hateful memes, flag as few benign ones as possible\". Which "
          "threshold meets it?",
          ("The lowest threshold whose hateful recall is at least 0.9",
           "The threshold tuned for macro-F1 on dev",
           "The highest threshold whose hateful recall is at least 0.9",
           "A threshold of 0.9"), 2,
          "Recall only falls as the threshold rises, and a higher threshold flags fewer benign memes: the highest "
          "one that still meets the recall is the policy's point on the ROC curve (section 7)."),
        Q("Which benign memes did the concat model find hardest to tell from hateful ones?",
          ("Neutral mentions of a group (benign_mention)",
           "The same caption on another picture (benign_image_swap)",
           "The same picture under another caption (benign_text_swap)"), 1,
          "Only the picture tells an image swap from its hateful meme, and the random-init image tower sees little "
          "but colour and layout: its AUROC against them was the lowest (section 3)."),
    ),
    "07": (
        Q("What does a group's false positive rate (FPR) measure?",
          ("Of the memes flagged hateful, the share that name the group",
           "Of the group's hateful memes, the share missed",
           "Of the group's benign memes, the share flagged hateful",
           "Of all memes, the share that name the group"), 2,
          "A high FPR means the group's harmless posts are removed, often those of the very people hateful memes "
          "target; the hateful memes missed are the FNR (section 2)."),
        Q("Why does the model flag the quibbits' benign memes more often than other groups'?",
          ("In training, many of their hateful memes had no benign twin",
           "Their dev and test memes were made by other rules",
           "The threshold was tuned on their memes alone",
           "Their captions use other templates than the other groups'"), 0,
          "Every other group's twins teach that the name alone decides nothing; this group's orphans do not, so the "
          "model learns \"this name means hateful\" from the training data (the table after the first exercise)."),
        Q("Why is `test_seen` scored only once, at the end?",
          ("test_seen has no labels to score against",
           "Scoring a split changes the model's weights",
           "Each scoring gives another AUROC, by chance",
           "Dev made the choices, so it is optimistic; a reused test is too"), 3,
          "Each choice on dev (epoch, threshold, model) picks what happened to work on those memes, partly by luck; "
          "only memes that played no part in any choice give an honest estimate (section 3)."),
        Q("A bootstrap resample draws 300 memes from test_seen's 300, with replacement. Which is true?",
          ("Each meme comes up exactly once, in a new order",
           "It draws 300 new memes from the same world",
           "Some memes come up twice or more, others not at all",
           "It gives the test AUROC again, exactly"), 2,
          "The resample printed in section 3 held 189 different memes and left 111 out; the spread of many such "
          "resamples' AUROCs shows the luck of a 300-meme draw."),
        Q("What did giving the quibbits' benign training memes three times the weight do here?",
          ("It narrowed the FPR gap, without costing AUROC",
           "It removed every false positive of every group",
           "It made the model far less accurate on dev",
           "It changed the labels of the quibbits' dev memes"), 0,
          "Each of those memes pulls harder against the shortcut: the gap fell to at most half of what it was. A "
          "fix for one group can move errors onto another, so measure every group again (section 2)."),
    ),
    "08": (
        Q("Integrated gradients gives each word of the caption a score. What do the scores add up to?",
          ("P(hateful) of the meme",
           "The hateful logit's change from the all-[PAD] caption, up to delta",
           "1, like a probability distribution over the words",
           "The gradient of the logit at the caption"), 1,
          "Completeness: integrating the gradient along the path from the baseline shares out exactly the change "
          "of the logit; `delta` is what the numerical integration misses (section 4)."),
        Q("Why can gradients x inputs mislead?",
          ("Gradients cannot be computed through a text encoder",
           "It needs a GPU to be exact",
           "A gradient is only the slope at the input, where it may be flat",
           "It ignores the attention mask"), 2,
          "The toy min(z, 1) at z = 3 has gradient 0 although z raised it by 1; along the model's path the logit "
          "changed most far from the caption (section 3)."),
        Q("The head is re-initialised at random and the same captions are explained again. What should a "
          "trustworthy method show?",
          ("The same word scores: the words are what they are",
           "Word scores that change, ranked unlike the trained model's",
           "All word scores zero",
           "A higher dev AUROC"), 1,
          "Adebayo et al. (2018): an explanation that does not change when the model's learned weights are replaced "
          "explains the input, not the model (section 8)."),
        Q("What does SynthMemes allow that real memes do not?",
          ("Testing each explanation against the known cause of the meme's label",
           "Computing integrated gradients",
           "Drawing a Grad-CAM heat map",
           "Scoring the meme with an empty caption"), 0,
          "Every SynthMeme's label comes from its group word, its frame words and its scene; real memes have no "
          "such ground truth, so there an explanation is a hypothesis about the model (sections 7 and 9)."),
    ),
}
