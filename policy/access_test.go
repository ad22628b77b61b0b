package policy

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

const appRule = "request.owner.application_id in credential.claims.application_ids"

func mustRules(t testing.TB, exprs ...string) *Category {
	t.Helper()
	specs := make([]RuleSpec, len(exprs))
	for i, e := range exprs {
		specs[i] = RuleSpec{Expr: e}
	}
	rules, err := CompileRules(specs)
	if err != nil {
		t.Fatal(err)
	}
	return &Category{Name: "docs", AccessRules: rules}
}

func TestCompileRuleReportsBadRulesWithTheirPosition(t *testing.T) {
	cases := []struct {
		name, expr, want string
	}{
		{"an undeclared variable is refused", "reqest.owner.x == 'a'", "1:1"},
		{"a field the request lacks is refused with its position", "request.ownr.x == 'a'", "1:8: request has no field \"ownr\""},
		{"a rule that is not a bool is refused", "request.size + 1", "not a bool"},
		{"a syntax error names its column", "request.size >", "1:15"},
		{"an empty rule is refused", "  ", "empty"},
		{"an oversized rule is refused", "true || " + strings.Repeat("true || ", MaxRuleLength/8) + "true", "more than"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := CompileRule(0, RuleSpec{Expr: c.expr})
			var re *RuleError
			if !errors.As(err, &re) {
				t.Fatalf("CompileRule(%q) = %v, want a RuleError", c.expr, err)
			}
			if !strings.Contains(re.Message, c.want) {
				t.Errorf("CompileRule(%q) = %q, want it to mention %q", c.expr, re.Message, c.want)
			}
		})
	}
}

func TestCheckAccess(t *testing.T) {
	cat := mustRules(t, appRule)
	claims := func(s string) map[string]any {
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	cases := []struct {
		name   string
		claims map[string]any
		owner  map[string]string
		allow  bool
	}{
		{"an application in the claim is allowed", claims(`{"application_ids":["a1","a2"]}`), map[string]string{"application_id": "a2"}, true},
		{"another application is denied", claims(`{"application_ids":["a1"]}`), map[string]string{"application_id": "a2"}, false},
		{"a missing claim denies", nil, map[string]string{"application_id": "a1"}, false},
		{"a claim of the wrong type denies", claims(`{"application_ids":42}`), map[string]string{"application_id": "a1"}, false},
		{"a claim that is a string denies unless equal to a substring", claims(`{"application_ids":"xa1x"}`), map[string]string{"application_id": "zz"}, false},
		{"a missing owner field denies", claims(`{"application_ids":["a1"]}`), nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := cat.CheckAccess(&RuleCredential{Kind: "jwt", Claims: c.claims}, &RuleRequest{Action: ActionCreate, Owner: c.owner})
			if (err == nil) != c.allow {
				t.Fatalf("CheckAccess = %v, want allowed %v", err, c.allow)
			}
			var ae *AccessError
			if err != nil && (!errors.As(err, &ae) || !errors.Is(err, ErrAccessDenied) || ae.Rule != "access_rules[0]") {
				t.Fatalf("CheckAccess = %#v, want an AccessError naming access_rules[0]", err)
			}
		})
	}
}

func TestCheckAccessStopsAtTheCostLimit(t *testing.T) {
	// Each level of map multiplies the work; the limit ends it.
	cat := mustRules(t, "[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, [1,2,3,4,5,6,7,8,9,10].all(c, [1,2,3,4,5,6,7,8,9,10].all(d, a+b+c+d > 0))))")
	err := cat.CheckAccess(&RuleCredential{}, &RuleRequest{})
	if err == nil || !strings.Contains(err.Error(), "cost") {
		t.Fatalf("CheckAccess = %v, want a refusal for the cost limit", err)
	}
}

func TestCheckAccessNamesTheRule(t *testing.T) {
	rules, err := CompileRules([]RuleSpec{{Name: "jwt only", Expr: "credential.kind == 'jwt'"}, {Name: "small", Expr: "request.size < 10"}})
	if err != nil {
		t.Fatal(err)
	}
	cat := &Category{Name: "docs", AccessRules: rules}
	err = cat.CheckAccess(&RuleCredential{Kind: "jwt"}, &RuleRequest{Size: 11, Action: ActionCreate})
	var ae *AccessError
	if !errors.As(err, &ae) || ae.Rule != "small" {
		t.Fatalf("CheckAccess = %v, want a refusal by rule small", err)
	}
}

// FuzzCheckAccess evaluates rules over claims and owner values of any
// shape: it never panics, and a rule it cannot evaluate never allows.
func FuzzCheckAccess(f *testing.F) {
	f.Add(`{"application_ids":["a1"]}`, "application_id", "a1")
	f.Add(`{"application_ids":"a1"}`, "application_id", "a1")
	f.Add(`{"application_ids":[1,2,{"x":null}]}`, "application_id", "")
	f.Add(`{"application_ids":null,"level":1e308}`, "other", "\xff")
	f.Add(`[]`, "", "")
	rules, err := CompileRules([]RuleSpec{
		{Expr: appRule},
		{Expr: "credential.claims.level >= 2 || request.owner.application_id.startsWith('pub-')"},
		{Expr: "credential.claims.tags.exists(t, t == request.owner.application_id)"},
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, claimsJSON, field, value string) {
		var claims map[string]any
		_ = json.Unmarshal([]byte(claimsJSON), &claims)
		cred := &RuleCredential{Kind: "jwt", Claims: claims}
		req := &RuleRequest{Action: ActionGet, Owner: map[string]string{field: value}}
		for _, r := range rules {
			err := r.Eval("docs", cred, req)
			if err == nil {
				// Allowing must be justified by the inputs.
				ids := claims["application_ids"]
				level, _ := claims["level"].(float64)
				tags := claims["tags"]
				app, hasApp := req.Owner["application_id"]
				switch r.Expr {
				case appRule:
					if !hasApp || !containsString(ids, app) {
						t.Fatalf("%s allowed claims %s and owner %q=%q", r.Expr, claimsJSON, field, value)
					}
				case rules[1].Expr:
					if level < 2 && (!hasApp || !strings.HasPrefix(app, "pub-")) {
						t.Fatalf("%s allowed claims %s and owner %q=%q", r.Expr, claimsJSON, field, value)
					}
				default:
					if !hasApp || !containsString(tags, app) {
						t.Fatalf("%s allowed claims %s and owner %q=%q", r.Expr, claimsJSON, field, value)
					}
				}
				continue
			}
			if !errors.Is(err, ErrAccessDenied) {
				t.Fatalf("Eval = %v, want an access error", err)
			}
		}
	})
}

// containsString reports whether CEL's "in" (and exists over a
// collection) may find s in v: an element of a list, a key of a map.
func containsString(v any, s string) bool {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			if e == s {
				return true
			}
		}
	case map[string]any:
		_, ok := x[s]
		return ok
	}
	return false
}

func BenchmarkCheckAccess(b *testing.B) {
	cat := mustRules(b, appRule)
	cred := &RuleCredential{Kind: "jwt", Subject: "u1", Claims: map[string]any{"application_ids": []any{"a1", "a2", "a3"}}}
	req := &RuleRequest{Action: ActionCreate, Category: "docs", Owner: map[string]string{"application_id": "a3"}}
	b.ReportAllocs()
	for b.Loop() {
		if err := cat.CheckAccess(cred, req); err != nil {
			b.Fatal(err)
		}
	}
}

func TestRulesSeeEveryFieldTheyRead(t *testing.T) {
	cred := &RuleCredential{Kind: "jwt", Subject: "u1", Scopes: []string{"files:read"}, Claims: map[string]any{"application_ids": []any{"a1"}}}
	req := &RuleRequest{Action: ActionGet, Category: "docs", Owner: map[string]string{"application_id": "a1"}, Name: "n", Filename: "f.txt",
		Size: 5, ContentType: "text/plain", Metadata: map[string]string{"k": "v"}, State: "READY"}
	for _, expr := range []string{
		"file.owner.application_id in credential.claims.application_ids",
		"request['owner']['application_id'] == 'a1'",
		"credential['subject'] == 'u1' && 'files:read' in credential.scopes",
		"request.action == 'get' && request.category == 'docs' && request.name == 'n' && request.filename == 'f.txt'",
		"request.size == 5 && request.content_type == 'text/plain' && request.metadata.k == 'v' && file.state == 'READY'",
		"[request].all(r, r.owner.application_id == 'a1')",
	} {
		t.Run(expr, func(t *testing.T) {
			if err := mustRules(t, expr).CheckAccess(cred, req); err != nil {
				t.Fatalf("CheckAccess = %v, want allowed", err)
			}
		})
	}
}
