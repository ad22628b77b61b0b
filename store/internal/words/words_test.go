package words

import (
	"slices"
	"strings"
	"testing"
)

func TestSplit(t *testing.T) {
	for _, c := range []struct {
		text   string
		whole  []string
		prefix string
	}{
		{"", nil, ""},
		{"charlie", nil, ""},
		{" charlie", nil, "charlie"},
		{"charlie ", nil, ""},
		{" charlie ", []string{"charlie"}, ""},
		{"file 666667 ", []string{"666667"}, ""},
		{"file 666667", nil, "666667"},
		{"file 1 2 1 x", []string{"1", "2"}, "x"},
		{"a  b", nil, "b"},
		{"été \"quoted\" r", []string{"quoted"}, "r"},
		{"é \"q", nil, "q"},
		{"report_2024.final.pdf", []string{"2024", "final"}, "pdf"},
		{"x–y z", nil, "z"}, // an en dash is not ASCII: part of the word "x–y"
		{"a x–y b", []string{"x–y"}, "b"},
		{"日本 語の ファイル", []string{"語の"}, "ファイル"},
		{"a\x00b\x7fc", []string{"b"}, "c"},
		{"...", nil, ""},
	} {
		got := Split(c.text)
		if !slices.Equal(got.Whole, c.whole) || got.Prefix != c.prefix {
			t.Errorf("Split(%q) = %q, %q; want %q, %q", c.text, got.Whole, got.Prefix, c.whole, c.prefix)
		}
	}
}

// TestSplitTermsAreWordsOfNames checks Split's promise on names that hold
// the text: each whole term is a word of the name, and the prefix starts
// one.
func TestSplitTermsAreWordsOfNames(t *testing.T) {
	names := []string{
		"file 666667 hotel", "report_2024.final.pdf", "été \"quoted\" rapport",
		"日本 語の ファイル.txt", "a x–y bee", "x1 x2 x3 x4",
	}
	for _, name := range names {
		for i := range name {
			for j := i + 1; j <= len(name); j++ {
				text := name[i:j]
				if !strings.Contains(name, text) {
					continue // not on a rune boundary
				}
				words := wordsOf(name)
				terms := Split(text)
				for _, w := range terms.Whole {
					if !slices.Contains(words, w) {
						t.Errorf("Split(%q).Whole has %q, not a word of %q %q", text, w, name, words)
					}
				}
				if p := terms.Prefix; p != "" && !slices.ContainsFunc(words, func(w string) bool { return strings.HasPrefix(w, p) }) {
					t.Errorf("Split(%q).Prefix is %q, which starts no word of %q %q", text, p, name, words)
				}
			}
		}
	}
}

func wordsOf(name string) []string {
	return strings.FieldsFunc(name, IsSeparator)
}

func TestTruncate(t *testing.T) {
	for _, c := range []struct {
		w    string
		n    int
		want string
	}{
		{"abc", 2, "ab"}, {"abc", 3, "abc"}, {"abc", 5, "abc"}, {"ééé", 2, "éé"}, {"", 1, ""}, {"ab", 0, ""},
	} {
		if got := Truncate(c.w, c.n); got != c.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", c.w, c.n, got, c.want)
		}
	}
}
