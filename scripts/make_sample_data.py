#!/usr/bin/env python3
"""Writes the small sample files in data/ (made up for seqenc, from templates).

Run again only to regenerate them: ./scripts/make_sample_data.py
"""
import random
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data"
rng = random.Random(11)

SUBJECTS = ["the film", "this movie", "the plot", "the acting", "the soundtrack", "the ending",
            "the cast", "the script", "this sequel", "the director's work"]
POSITIVE = ["great", "wonderful", "moving", "clever", "delightful", "superb", "gripping", "charming"]
NEGATIVE = ["dull", "awful", "boring", "clumsy", "tedious", "weak", "predictable", "lifeless"]
INTENS = ["", "really ", "truly ", "quite ", "rather "]
NEGATE = ["not ", "never "]


def review():
    subject = rng.choice(SUBJECTS)
    positive = rng.random() < 0.5
    word = rng.choice(POSITIVE if positive else NEGATIVE)
    negated = rng.random() < 0.25
    if negated:
        positive = not positive
    text = f"{subject} was {rng.choice(NEGATE) if negated else ''}{rng.choice(INTENS)}{word}"
    if rng.random() < 0.4:
        text += rng.choice([" , i think", " overall", " from start to finish", " at times"])
    return text, "positive" if positive else "negative"


def write_lines(name, lines):
    (DATA / name).write_text("".join(line + "\n" for line in lines), encoding="utf-8")


for split, count in [("train", 800), ("valid", 100), ("test", 100)]:
    write_lines(f"reviews.{split}.tsv", [f"{t}\t{l}" for t, l in (review() for _ in range(count))])

DET = ["the", "a", "every", "some"]
ADJ = ["small", "red", "quick", "old", "quiet", "bright"]
NOUN = ["cat", "dog", "bird", "child", "teacher", "river", "garden", "letter"]
VERB = ["sees", "finds", "follows", "likes", "writes", "crosses"]
ADV = ["slowly", "often", "quietly", "today"]
PREP = ["near", "under", "behind", "with"]


def noun_phrase():
    words = [(rng.choice(DET), "DET")]
    if rng.random() < 0.5:
        words.append((rng.choice(ADJ), "ADJ"))
    words.append((rng.choice(NOUN), "NOUN"))
    return words


def sentence():
    words = noun_phrase() + [(rng.choice(VERB), "VERB")] + noun_phrase()
    if rng.random() < 0.4:
        words += [(rng.choice(PREP), "ADP")] + noun_phrase()
    if rng.random() < 0.3:
        words.append((rng.choice(ADV), "ADV"))
    return words


write_lines("tags.tsv", [" ".join(w for w, _ in s) + "\t" + " ".join(t for _, t in s)
                         for s in (sentence() for _ in range(1000))])
write_lines("corpus.txt", [" ".join(w for w, _ in sentence()) + " ." for _ in range(1500)])
