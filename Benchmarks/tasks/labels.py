"""Python twins of EdgeLM's classification prompt construction (Sources/Tasks/LabelSet.swift,
TaskRunner+Classify.swift), used to explore prompts quickly and as the llama.cpp baseline."""
import re

LANGUAGES = {
    "ar": "Arabic", "bg": "Bulgarian", "ca": "Catalan", "cs": "Czech", "da": "Danish", "de": "German",
    "el": "Greek", "en": "English", "es": "Spanish", "et": "Estonian", "fa": "Persian", "fi": "Finnish",
    "fr": "French", "he": "Hebrew", "hi": "Hindi", "hr": "Croatian", "hu": "Hungarian", "id": "Indonesian",
    "it": "Italian", "ja": "Japanese", "ko": "Korean", "lt": "Lithuanian", "lv": "Latvian", "nl": "Dutch",
    "no": "Norwegian", "pl": "Polish", "pt": "Portuguese", "ro": "Romanian", "ru": "Russian", "sk": "Slovak",
    "sl": "Slovenian", "sr": "Serbian", "sv": "Swedish", "th": "Thai", "tr": "Turkish", "uk": "Ukrainian",
    "vi": "Vietnamese", "zh": "Chinese",
}


def split_words(label):
    """Twin of LabelWords.words: split at _ - . / and whitespace, lower→upper changes, before the last capital
    of an acronym followed by lower case (HTTPError → HTTP, Error), and between letters and digits."""
    out, cur = [], []
    chars = list(label)
    for i, c in enumerate(chars):
        if c in "_-./" or c.isspace():
            if cur:
                out.append("".join(cur)); cur = []
            continue
        if cur:
            p = cur[-1]
            nxt = chars[i + 1] if i + 1 < len(chars) else None
            boundary = (p.islower() and c.isupper()) or (p.isupper() and c.isupper() and nxt is not None and nxt.islower()) \
                or (p.isalpha() and c.isdigit()) or (p.isdigit() and c.isalpha())
            if boundary:
                out.append("".join(cur)); cur = []
        cur.append(c)
    if cur:
        out.append("".join(cur))
    return out


def humanise_set(labels):
    """Twin of LabelWords.humanise: all ISO 639-1 codes → language names; otherwise words, lower-cased except
    acronyms (all caps, ≥ 2 letters) in a label that is not SCREAMING_CASE (all caps with a separator, or
    every label of the set in capitals)."""
    if labels and all(len(l) == 2 and l.lower() in LANGUAGES for l in labels):
        return [LANGUAGES[l.lower()] for l in labels]
    all_caps = all(l.upper() == l for l in labels)
    out = []
    for l in labels:
        ws = split_words(l)
        if not ws:
            out.append(l.strip())
            continue
        has_sep = any(c in "_-./ " for c in l)
        screaming = l.upper() == l and (all_caps or has_sep)
        res = []
        for w in ws:
            letters = [c for c in w if c.isalpha()]
            acronym = not screaming and len(letters) >= 2 and w.upper() == w and w.lower() != w
            res.append(w if acronym else w.lower())
        out.append(" ".join(res))
    return out


def capitalise(s):
    return s[:1].upper() + s[1:]


if __name__ == "__main__":
    for ls in [["set_alarm", "weather", "play_music", "book_flight"], ["technical-issue", "cancelSubscription", "NOT_SPAM"],
               ["SPAM", "NOT_SPAM"], ["URGENT", "NORMAL", "LOW_PRIORITY"], ["en", "fr", "de"], ["HTTPError", "scienceTech", "FAQ", "positive"]]:
        print(ls, humanise_set(ls))
