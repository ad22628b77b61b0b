package capability

import "testing"

func TestList(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []Named
		want string
	}{
		{"nothing listed", nil, "none"},
		{"none present", []Named{{"A", false}, {"B", false}}, "none"},
		{"some present, in order", []Named{{"A", true}, {"B", false}, {"C", true}}, "A C"},
		{"all present", []Named{{"A", true}, {"B", true}}, "A B"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := List(tc.in...); got != tc.want {
				t.Errorf("List(%v) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
