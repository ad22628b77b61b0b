package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestDenyAddListRemove(t *testing.T) {
	dir := t.TempDir()
	run1 := func(args ...string) (string, error) {
		t.Helper()
		var out, errOut bytes.Buffer
		err := run(append(args, "--data-dir", dir), &out, &errOut)
		return out.String(), err
	}
	runOK := func(args ...string) string {
		t.Helper()
		out, err := run1(args...)
		if err != nil {
			t.Fatalf("presignd %s: %v", strings.Join(args, " "), err)
		}
		return out
	}
	runOK("deny", "add", "--tenant", "acme", "--category", "default", "--field", "customer_id", "--value", "c-42", "--reason", "chargebacks")
	if got := runOK("deny", "list", "--tenant", "acme"); !strings.Contains(got, `customer_id  "c-42"`) || !strings.Contains(got, "chargebacks") {
		t.Fatalf("list does not show the entry:\n%s", got)
	}
	if got := runOK("deny", "list", "--tenant", "globex"); strings.Contains(got, "c-42") {
		t.Fatalf("another tenant's list shows the entry:\n%s", got)
	}
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"adding it again is refused", []string{"deny", "add", "--tenant", "acme", "--category", "default", "--field", "customer_id", "--value", "c-42"}, "already denies"},
		{"an unknown category is refused", []string{"deny", "add", "--tenant", "acme", "--category", "nope", "--field", "customer_id", "--value", "x"}, "no category"},
		{"a field that is not an owner field name is refused", []string{"deny", "add", "--tenant", "acme", "--category", "default", "--field", "Customer", "--value", "x"}, "not an owner field name"},
		{"another tenant cannot remove it", []string{"deny", "remove", "--tenant", "globex", "--category", "default", "--field", "customer_id", "--value", "c-42"}, "has no entry"},
		{"add without a value is refused", []string{"deny", "add", "--tenant", "acme", "--category", "default", "--field", "customer_id"}, "required"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := run1(c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("presignd %s = %v, want an error mentioning %q", strings.Join(c.args, " "), err, c.want)
			}
		})
	}
	runOK("deny", "remove", "--tenant", "acme", "--category", "default", "--field", "customer_id", "--value", "c-42")
	if got := runOK("deny", "list", "--tenant", "acme"); strings.Contains(got, "c-42") {
		t.Fatalf("the removed entry is still listed:\n%s", got)
	}
}
