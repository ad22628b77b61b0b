// Package words finds, in a folded NameContains text, the words a word
// index of display names can look up, so a driver need not look up every
// trigram of the text (those of a word most names share, like "file",
// make a trigram lookup read much of the index).
//
// A word is a maximal run of characters that are not separators; the
// separators are the ASCII characters other than letters and digits
// (space, punctuation, control characters). Every non-ASCII character is
// part of a word. A driver's word index must split names at the same
// separators, or at more of them, never fewer.
package words

import "unicode/utf8"

// IsSeparator reports whether r separates words: an ASCII character other
// than a letter or a digit.
func IsSeparator(r rune) bool {
	return r < utf8.RuneSelf && !('0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z')
}

// Terms are what a word index can look up for a search text: every name
// that holds the text has each of Whole as a word, and a word that starts
// with Prefix.
type Terms struct {
	// Whole are the words of the text that have a separator on both sides
	// inside the text, each once, in the order they first appear. A word
	// at an end of the text may be the end of a longer word of a name.
	Whole []string
	// Prefix is the word the text ends in, when a separator comes before
	// it; empty when the text ends with a separator or has none.
	Prefix string
}

// Split returns the Terms of text.
func Split(text string) Terms {
	var t Terms
	start := -1      // byte offset of the word being read, or -1
	sepSeen := false // a separator came before start
	for i, r := range text {
		if !IsSeparator(r) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 && sepSeen {
			t.addWhole(text[start:i])
		}
		start, sepSeen = -1, true
	}
	if start >= 0 && sepSeen {
		t.Prefix = text[start:]
	}
	return t
}

func (t *Terms) addWhole(w string) {
	for _, v := range t.Whole {
		if v == w {
			return
		}
	}
	t.Whole = append(t.Whole, w)
}

// Truncate is w cut to its first n characters (runes).
func Truncate(w string, n int) string {
	for i := range w {
		if n == 0 {
			return w[:i]
		}
		n--
	}
	return w
}
