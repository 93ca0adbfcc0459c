package auth

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/backupbot/backupbot/internal/fuzzy"
)

// ParseError is one problem in a policy file, located by line and field path.
// Parse returns one *ParseError, or several joined with errors.Join (one per
// line); errors.As finds the first.
type ParseError struct {
	File    string // the file name given to Parse
	Line    int    // 1-based; 0 when the YAML parser gave no position
	Path    string // field path, e.g. "accounts.prod.approvers[0]"; empty for the whole file
	Problem string // what is wrong, and often how to fix it
}

// Error formats the problem as "policy.yaml:12: accounts.prod.aprovers:
// unknown field (did you mean "approvers"?)".
func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Problem)
	return b.String()
}

// maxParseErrors caps how many problems one Parse reports.
const maxParseErrors = 20

// topFields are the keys of the top-level mapping, in the order error
// messages list them.
func topFields() []string { return []string{"approval_timeout", "audit_channel", "accounts", "groups"} }

// accountFields are the keys of an account.
func accountFields() []string {
	return []string{"client", "requesters", "approvers", "channels", "tablegroups",
		"require_reason", "breakglass", "levels", "approval_timeout"}
}

// Parse parses and validates a policy file (see the package documentation for
// the format). filename only labels errors. Parsing is strict: unknown or
// duplicate keys, wrong types, malformed Slack IDs, an account without
// requesters, a bad duration and the like are errors that name the file, the
// line and the field, and no Policy is returned.
func Parse(filename string, data []byte) (*Policy, error) {
	p := &parser{file: filename, lines: map[*Account]int{}}
	pol := p.document(data)
	if len(p.errs) > 0 {
		return nil, p.err()
	}
	sum := sha256.Sum256(data)
	pol.Hash = hex.EncodeToString(sum[:])[:12]
	return pol, nil
}

// parser collects the problems found while walking the YAML node tree.
type parser struct {
	file  string
	errs  []*ParseError
	lines map[*Account]int // where each account starts, for errors that name two
}

// field is one key/value pair of a mapping.
type field struct {
	key  string
	line int  // the key's line
	null bool // the key is null (~, null or nothing)
	val  *yaml.Node
	path string
}

func (p *parser) errorf(line int, path, format string, args ...any) {
	p.errs = append(p.errs, &ParseError{File: p.file, Line: line, Path: path, Problem: fmt.Sprintf(format, args...)})
}

// err returns the collected problems, in file order.
func (p *parser) err() error {
	slices.SortStableFunc(p.errs, func(a, b *ParseError) int { return cmp.Compare(a.Line, b.Line) })
	if len(p.errs) == 1 {
		return p.errs[0]
	}
	errs := make([]error, 0, maxParseErrors+1)
	for i, e := range p.errs {
		if i == maxParseErrors {
			errs = append(errs, fmt.Errorf("%s: and %d more problems", p.file, len(p.errs)-i))
			break
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

// syntax records a YAML syntax error, with its line when yaml.v3 gave one
// ("yaml: line 3: could not find expected ':'").
func (p *parser) syntax(err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, problem, ok := strings.Cut(rest, ": "); ok {
			if line, err := strconv.Atoi(num); err == nil {
				p.errorf(line, "", "invalid YAML: %s", problem)
				return
			}
		}
	}
	p.errorf(0, "", "invalid YAML: %s", msg)
}

func (p *parser) document(data []byte) *Policy {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.errorf(1, "", "empty policy: it needs at least one account under accounts:")
		} else {
			p.syntax(err)
		}
		return nil
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		p.errorf(extra.Line, "", "a second YAML document: the policy is one document (remove the ---)")
	case !errors.Is(err, io.EOF):
		p.syntax(err)
	}
	if len(doc.Content) == 0 || isNull(resolve(doc.Content[0])) {
		p.errorf(max(doc.Line, 1), "", "empty policy: it needs at least one account under accounts:")
		return nil
	}
	root := resolve(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		p.errorf(root.Line, "", "expected a mapping with accounts:, got %s", describe(root))
		return nil
	}

	pol := &Policy{ApprovalTimeout: DefaultApprovalTimeout}
	var accounts *field
	for _, f := range p.fields(root, "", topFields()) {
		switch f.key {
		case "approval_timeout":
			if d, ok := p.duration(f); ok {
				pol.ApprovalTimeout = d
			}
		case "audit_channel":
			pol.AuditChannel = p.channel(f)
		case "accounts":
			accounts = &f
		case "groups":
			pol.Groups = p.groups(f)
		}
	}
	if accounts == nil {
		p.errorf(root.Line, "accounts", "missing: the policy needs at least one account")
		return pol
	}
	pol.accounts = p.accounts(*accounts)
	p.twins(pol.accounts)
	for _, a := range pol.accounts {
		a.defaultTimeout = pol.ApprovalTimeout
	}
	return pol
}

// pairs returns a mapping's key/value pairs, reporting keys that are not
// plain scalars and keys given twice (only the first is kept).
func (p *parser) pairs(n *yaml.Node, path string) []field {
	var out []field
	first := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		fpath := join(path, k.Value)
		switch {
		case k.Kind != yaml.ScalarNode:
			p.errorf(k.Line, path, "expected a name as key, got %s", describe(k))
			continue
		case k.ShortTag() == "!!merge":
			p.errorf(k.Line, fpath, "merge keys (<<) are not supported: write the fields out")
			continue
		}
		if line, dup := first[k.Value]; dup {
			p.errorf(k.Line, fpath, "duplicate key (first at line %d)", line)
			continue
		}
		first[k.Value] = k.Line
		out = append(out, field{key: k.Value, line: k.Line, null: k.ShortTag() == "!!null", val: v, path: fpath})
	}
	return out
}

// fields is pairs restricted to the known field names: an unknown one is an
// error that suggests the closest known name (fuzzy.Closest).
func (p *parser) fields(n *yaml.Node, path string, known []string) []field {
	var out []field
	for _, f := range p.pairs(n, path) {
		if slices.Contains(known, f.key) {
			out = append(out, f)
			continue
		}
		if near := fuzzy.Closest(f.key, known, 1); len(near) > 0 {
			p.errorf(f.line, f.path, "unknown field (did you mean %q?)", near[0])
		} else {
			p.errorf(f.line, f.path, "unknown field (known fields: %s)", strings.Join(known, ", "))
		}
	}
	return out
}

func (p *parser) accounts(f field) []*Account {
	n := resolve(f.val)
	if isNull(n) || (n.Kind == yaml.MappingNode && len(n.Content) == 0) {
		p.errorf(f.line, f.path, "no accounts: the policy needs at least one")
		return nil
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n.Line, f.path, "expected a mapping of account names to accounts, got %s", describe(n))
		return nil
	}
	var out []*Account
	seen := map[string]field{} // lower-case name → first account
	for _, af := range p.pairs(n, f.path) {
		name := af.key
		if af.null || name == "" {
			p.errorf(af.line, f.path, "empty account name")
			continue
		}
		if !validAccountName(name) {
			p.errorf(af.line, af.path, "account name %q: use letters, digits, - and _ (it is the word users type)", name)
			continue
		}
		if prev, dup := seen[strings.ToLower(name)]; dup {
			p.errorf(af.line, af.path, "duplicate account name (same as %q at line %d; names are compared without regard to case)", prev.key, prev.line)
			continue
		}
		seen[strings.ToLower(name)] = af
		if a := p.account(af); a != nil {
			out = append(out, a)
		}
	}
	return out
}

func (p *parser) account(f field) *Account {
	n := resolve(f.val)
	if isNull(n) {
		p.errorf(f.line, f.path, "empty account: requesters is required")
		return nil
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n.Line, f.path, "expected a mapping of account fields, got %s", describe(n))
		return nil
	}
	a := &Account{Name: f.key, Client: f.key}
	p.lines[a] = f.line
	var hasRequesters, hasApprovers bool
	var breakglass, timeout *field
	for _, af := range p.fields(n, f.path, accountFields()) {
		switch af.key {
		case "client":
			if s, ok := p.text(af.val, af.path); ok {
				a.Client = s
			}
		case "requesters":
			hasRequesters = true
			a.Requesters = p.ids(af, idUser|idGroup|idAnyone,
				`empty list: an account needs at least one requester (use ["*"] for anyone)`)
		case "approvers":
			hasApprovers = true
			a.Approvers = p.ids(af, idUser|idGroup, "empty list: omit approvers if requests need no approval")
		case "channels":
			a.Channels = p.ids(af, idChannel, "empty list: omit channels to allow requests from any channel")
		case "tablegroups":
			a.TableGroups = p.tableGroups(af)
		case "require_reason":
			a.RequireReason, _ = p.boolean(af)
		case "breakglass":
			breakglass = &af
			a.Breakglass = p.ids(af, idUser|idGroup, "empty list: omit breakglass if nobody may use it")
		case "levels":
			a.Levels = p.levels(af)
		case "approval_timeout":
			timeout = &af
			a.ApprovalTimeout, _ = p.duration(af)
		}
	}
	if !hasRequesters {
		p.errorf(f.line, f.path, `requesters is required (use ["*"] to allow anyone)`)
	}
	// Keys that only make sense with an approval step would mislead a
	// reader into thinking the account has one.
	if !hasApprovers && breakglass != nil {
		p.errorf(breakglass.line, breakglass.path, "%s has no approvers, so there is no approval for break-glass to skip: add approvers or remove breakglass", f.key)
	}
	if !hasApprovers && timeout != nil {
		p.errorf(timeout.line, timeout.path, "%s has no approvers, so nothing waits for approval: add approvers or remove approval_timeout", f.key)
	}
	return a
}

func (p *parser) groups(f field) map[string][]string {
	n := resolve(f.val)
	if n.Kind != yaml.MappingNode {
		p.errorf(n.Line, f.path, "expected a mapping of user group IDs (S…) to lists of user IDs, got %s", describe(n))
		return nil
	}
	out := make(map[string][]string, len(n.Content)/2)
	for _, gf := range p.pairs(n, f.path) {
		if problem := idProblem(gf.key, idGroup); problem != "" {
			p.errorf(gf.line, gf.path, "%s", problem)
			continue
		}
		members := p.ids(gf, idUser, "")
		if members == nil {
			members = []string{}
		}
		out[gf.key] = members
	}
	return out
}

// validAccountName reports whether name is one word users can type: ASCII
// letters, digits, '-' and '_', starting with a letter or digit, at most 64.
func validAccountName(name string) bool {
	if name == "" || len(name) > 64 || name[0] == '-' || name[0] == '_' {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
