package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/ext"
	"cel.dev/cel-go/interpreter"
)

// Actions: what an RPC does to a file, bound as request.action.
const (
	ActionCreate   = "create"   // CreateUpload
	ActionComplete = "complete" // CompleteUpload, SignParts, ListParts, AbortUpload
	ActionList     = "list"     // ListFiles (the filter, then each file listed)
	ActionGet      = "get"      // GetFile
	ActionUpdate   = "update"   // UpdateFile
	ActionDelete   = "delete"   // DeleteFile
	ActionDownload = "download" // CreateDownloadUrl
	ActionCheck    = "check"    // CheckName
	ActionUsage    = "usage"    // GetUsage
)

// RuleCostLimit caps the cost of one evaluation of one access rule (CEL's
// cost units: about one per operation, one per element a comprehension
// visits). A rule that reaches it fails, and so denies.
const RuleCostLimit = 10_000

// MaxRuleLength caps the text of one access rule, in bytes.
const MaxRuleLength = 4096

// ErrAccessDenied is the sentinel every AccessError wraps.
var ErrAccessDenied = errors.New("access denied")

// AccessError is a refusal by an access rule or a deny entry. It wraps
// ErrAccessDenied.
type AccessError struct {
	// Category whose rules refused.
	Category string
	// Rule names the rule that refused: its name, or "access_rules[i]".
	Rule string
	// Reason says why: the rule was false, or its evaluation failed
	// (a missing claim or owner field, a value of the wrong type); an
	// evaluation error never allows.
	Reason string
}

func (e *AccessError) Error() string {
	return fmt.Sprintf("category %q: %s %s", e.Category, e.Rule, e.Reason)
}

// Unwrap returns ErrAccessDenied.
func (e *AccessError) Unwrap() error { return ErrAccessDenied }

// RuleCredential is what an access rule sees of the caller, as the
// variable credential.
type RuleCredential struct {
	// Kind is "api_key" or "jwt".
	Kind string
	// Subject is the API key's id or the JWT's sub claim.
	Subject string
	// Scopes the credential grants.
	Scopes []string
	// Claims are the JWT's claims as JSON decodes them (strings, numbers
	// as doubles, booleans, lists, maps); empty for an API key.
	Claims map[string]any
}

// RuleRequest is what an access rule sees of the file an RPC acts on, as
// the variables request and file (the same value under two names): on
// create, the file asked for; on list and usage, the filter (category and
// owner only); on check, the category, owner and name; on every other
// RPC, the stored record.
type RuleRequest struct {
	// Action is one of the Action constants.
	Action      string
	Category    string
	Owner       map[string]string
	Name        string
	Filename    string
	Size        int64
	ContentType string
	Metadata    map[string]string
	// State is the record's state (PENDING, READY, ...), "" on create,
	// list, check and usage.
	State string
}

// RuleSpec is an access rule as configured.
type RuleSpec struct {
	// Name names the rule in refusals; "" names it by its index.
	Name string
	// Expr is the CEL expression, which must be a bool.
	Expr string
}

// Rule is a compiled access rule.
type Rule struct {
	Name string
	Expr string
	prg  cel.Program
	// credFields and reqFields are the fields the rule reads of
	// credential and of request (or file); nil binds them all.
	credFields, reqFields []string
}

// RuleError is a rule that does not compile, with the CEL error and its
// position in the rule.
type RuleError struct {
	// Index of the rule in its list.
	Index int
	// Message is CEL's report ("ERROR: <input>:1:9: undeclared reference
	// ..."), which names the line and column.
	Message string
}

func (e *RuleError) Error() string { return e.Message }

// ruleFields are the fields of each rule variable: a rule that selects
// another is refused when it is compiled.
var ruleFields = map[string][]string{
	"credential": {"kind", "subject", "scopes", "claims"},
	"request":    {"action", "category", "owner", "name", "filename", "size", "content_type", "metadata", "state"},
	"file":       {"action", "category", "owner", "name", "filename", "size", "content_type", "metadata", "state"},
}

var ruleEnv = func() *cel.Env {
	env, err := cel.NewEnv(
		cel.Variable("credential", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("request", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("file", cel.MapType(cel.StringType, cel.DynType)),
		ext.Strings(),
	)
	if err != nil {
		panic(fmt.Sprintf("policy: access rule environment: %v", err))
	}
	return env
}()

// ruleUse is what a rule reads of its variables: the fields it selects
// of each, or all of them when it uses a variable otherwise (whole).
type ruleUse struct {
	fields map[string][]string
	whole  map[string]bool
}

// checkFields reports the first selection of a field the rule variables
// lack (request.ownr), with its position, and what the rule reads.
func checkFields(src string, a *cel.Ast) (string, ruleUse) {
	var bad string
	use := ruleUse{fields: map[string][]string{}, whole: map[string]bool{}}
	idents, selects := map[string]int{}, map[string]int{}
	info := a.NativeRep().SourceInfo()
	ast.PreOrderVisit(a.NativeRep().Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		switch e.Kind() {
		case ast.IdentKind:
			idents[e.AsIdent()]++
			return
		case ast.SelectKind:
		default:
			return
		}
		sel := e.AsSelect()
		if sel.Operand().Kind() != ast.IdentKind {
			return
		}
		name := sel.Operand().AsIdent()
		fields, ok := ruleFields[name]
		if !ok {
			return
		}
		selects[name]++
		if !slices.Contains(use.fields[name], sel.FieldName()) {
			use.fields[name] = append(use.fields[name], sel.FieldName())
		}
		if bad != "" || slices.Contains(fields, sel.FieldName()) {
			return
		}
		loc := info.GetStartLocation(e.ID())
		bad = fmt.Sprintf("ERROR: <input>:%d:%d: %s has no field %q (its fields: %s)\n | %s",
			loc.Line(), loc.Column()+1, name, sel.FieldName(), strings.Join(fields, ", "), src)
	}))
	for name := range ruleFields {
		use.whole[name] = idents[name] > selects[name]
	}
	return bad, use
}

// CompileRule parses and type-checks one access rule: it must be a CEL
// bool expression over credential, request and file, at most
// MaxRuleLength bytes. The error is a *RuleError.
func CompileRule(index int, spec RuleSpec) (*Rule, error) {
	if strings.TrimSpace(spec.Expr) == "" {
		return nil, &RuleError{Index: index, Message: "the rule is empty"}
	}
	if len(spec.Expr) > MaxRuleLength {
		return nil, &RuleError{Index: index, Message: fmt.Sprintf("the rule is %d bytes, more than the %d allowed", len(spec.Expr), MaxRuleLength)}
	}
	checked, iss := ruleEnv.Compile(spec.Expr)
	if iss.Err() != nil {
		return nil, &RuleError{Index: index, Message: iss.Err().Error()}
	}
	if !checked.OutputType().IsExactType(types.BoolType) {
		return nil, &RuleError{Index: index, Message: fmt.Sprintf("the rule is a %s, not a bool (compare it: == true)", checked.OutputType())}
	}
	bad, use := checkFields(spec.Expr, checked)
	if bad != "" {
		return nil, &RuleError{Index: index, Message: bad}
	}
	prg, err := ruleEnv.Program(checked, cel.CostLimit(RuleCostLimit), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, &RuleError{Index: index, Message: err.Error()}
	}
	name := spec.Name
	if name == "" {
		name = fmt.Sprintf("access_rules[%d]", index)
	}
	r := &Rule{Name: name, Expr: spec.Expr, prg: prg}
	if !use.whole["credential"] {
		r.credFields = use.fields["credential"]
		if r.credFields == nil {
			r.credFields = []string{}
		}
	}
	if !use.whole["request"] && !use.whole["file"] {
		r.reqFields = append(slices.Clone(use.fields["request"]), use.fields["file"]...)
	}
	return r, nil
}

// CompileRules compiles every rule and reports every one that does not
// compile (as RuleErrors joined).
func CompileRules(specs []RuleSpec) ([]*Rule, error) {
	var (
		out  []*Rule
		errs []error
	)
	for i, spec := range specs {
		r, err := CompileRule(i, spec)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, r)
	}
	return out, errors.Join(errs...)
}

// ruleActivation binds the rule variables.
type ruleActivation struct {
	cred map[string]any
	req  map[string]any
}

func (a *ruleActivation) ResolveName(name string) (any, bool) {
	switch name {
	case "credential":
		return a.cred, true
	case "request", "file":
		return a.req, true
	}
	return nil, false
}

// bind returns the credential as a rule reads it: only fields (all when
// nil).
func (c *RuleCredential) bind(fields []string) map[string]any {
	if fields == nil {
		fields = ruleFields["credential"]
	}
	m := make(map[string]any, len(fields))
	for _, f := range fields {
		switch f {
		case "kind":
			m[f] = c.Kind
		case "subject":
			m[f] = c.Subject
		case "scopes":
			m[f] = c.Scopes
		case "claims":
			claims := c.Claims
			if claims == nil {
				claims = map[string]any{}
			}
			m[f] = claims
		}
	}
	return m
}

// bind returns the request as a rule reads it: only fields (all when nil).
func (r *RuleRequest) bind(fields []string) map[string]any {
	if fields == nil {
		fields = ruleFields["request"]
	}
	m := make(map[string]any, len(fields))
	for _, f := range fields {
		switch f {
		case "action":
			m[f] = r.Action
		case "category":
			m[f] = r.Category
		case "owner":
			m[f] = orEmpty(r.Owner)
		case "name":
			m[f] = r.Name
		case "filename":
			m[f] = r.Filename
		case "size":
			m[f] = r.Size
		case "content_type":
			m[f] = r.ContentType
		case "metadata":
			m[f] = orEmpty(r.Metadata)
		case "state":
			m[f] = r.State
		}
	}
	return m
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func (a *ruleActivation) Parent() interpreter.Activation { return nil }

// Eval evaluates the rule: true allows; false, an evaluation error or a
// cost over RuleCostLimit is an *AccessError. It never panics.
func (r *Rule) Eval(category string, cred *RuleCredential, req *RuleRequest) error {
	return r.eval(category, &ruleActivation{cred: cred.bind(r.credFields), req: req.bind(r.reqFields)})
}

func (r *Rule) eval(category string, act *ruleActivation) error {
	out, _, err := r.prg.Eval(act)
	if err != nil {
		return &AccessError{Category: category, Rule: r.Name, Reason: "could not be evaluated (" + err.Error() + "), which denies"}
	}
	if b, ok := out.Value().(bool); ok && b {
		return nil
	}
	return &AccessError{Category: category, Rule: r.Name, Reason: "denies this request"}
}

// CheckAccess evaluates the category's access rules in order and returns
// nil only when every one allows; otherwise the first refusal, an
// *AccessError.
func (c *Category) CheckAccess(cred *RuleCredential, req *RuleRequest) error {
	if len(c.AccessRules) == 0 {
		return nil
	}
	for _, r := range c.AccessRules {
		if err := r.Eval(c.Name, cred, req); err != nil {
			return err
		}
	}
	return nil
}
