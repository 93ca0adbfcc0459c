package auth_test

import (
	"context"
	"fmt"

	"github.com/backupbot/backupbot/auth"
)

func Example() {
	policy := `
approval_timeout: 30m
accounts:
  prod:
    client: aws-prod-account
    requesters: [S01ONCALL, U01ALICE]
    approvers: [S02SRELEADS]
    channels: [C01OPS]
    tablegroups: [orders, payments]
    require_reason: true
    breakglass: [S01ONCALL]
  staging:
    requesters: ["*"]
groups:
  S01ONCALL: [U01ALICE, U02BOB]
  S02SRELEADS: [U03CAROL]
`
	p, err := auth.Parse("policy.yaml", []byte(policy))
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	groups := auth.StaticGroups(p.Groups)
	backup := auth.Target{Account: "prod", TableGroup: "orders", Level: "full", Reason: "INC-4711"}

	d := p.CheckRequest(ctx, groups, auth.Subject{User: "U02BOB", Channel: "C01OPS"}, backup)
	fmt.Println(d.Allow, d.Rule)
	d = p.CheckRequest(ctx, groups, auth.Subject{User: "U02BOB", Channel: "C09RANDOM"}, backup)
	fmt.Println(d.Allow, d.Rule+":", d.Reason)
	d = p.CheckApprove(ctx, groups, "U02BOB", "U02BOB", "prod")
	fmt.Println(d.Allow, d.Rule+":", d.Reason)
	d = p.CheckApprove(ctx, groups, "U03CAROL", "U02BOB", "prod")
	fmt.Println(d.Allow, d.Rule)

	_, err = auth.Parse("policy.yaml", []byte("accounts:\n  prod:\n    requesters: [U01ALICE]\n    aprovers: [U03CAROL]\n"))
	fmt.Println(err)
	// Output:
	// true requesters
	// false channels: prod may only be requested from <#C01OPS>
	// false self-approval: you cannot approve your own request
	// true approvers
	// policy.yaml:4: accounts.prod.aprovers: unknown field (did you mean "approvers"?)
}
