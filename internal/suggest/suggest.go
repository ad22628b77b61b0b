// Package suggest finds the name a person most likely meant when they
// misspelt one: a configuration key, a JSON field, a command.
package suggest

// Closest returns the name in names nearest to s by edit distance when it
// is near enough to be a likely typo (at most a third of s's length plus
// one edit away), and "" otherwise or when s is itself in names.
func Closest(s string, names []string) string {
	best, bestDist := "", len(s)/3+2
	for _, name := range names {
		if name == s {
			return ""
		}
		if d := distance(s, name); d < bestDist {
			best, bestDist = name, d
		}
	}
	return best
}

// distance is the Levenshtein distance between a and b, in bytes.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
