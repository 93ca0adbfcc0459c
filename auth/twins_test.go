package auth

import (
	"strings"
	"testing"
)

func TestWeakerTwinRefused(t *testing.T) {
	const prod = "accounts:\n  prod:\n    client: aws-prod-account\n    requesters: [U05ERIN]\n    approvers: [U06FRANK]\n"
	tests := []struct {
		name, twin string
		want       string // "" when the policy loads
	}{
		{"no approvers, every table group", "  prod-fast:\n    client: aws-prod-account\n    requesters: [U05ERIN]\n",
			`policy.yaml:6: accounts.prod-fast: account prod-fast and account prod (line 2) both cover every table group of Commvault client aws-prod-account, with different approvers: ` +
				`whoever may use one of them would skip the other's rules; give them the same rules, or table groups that do not overlap`},
		{"client in another case", "  p2:\n    client: AWS-Prod-Account\n    requesters: [U05ERIN]\n    tablegroups: [orders]\n    approvers: [U03CAROL]\n",
			`account p2 and account prod (line 2) both cover table group "orders" of Commvault client AWS-Prod-Account, with different approvers`},
		{"overlapping lists", "  p2:\n    client: aws-prod-account\n    requesters: [U05ERIN]\n    approvers: [U06FRANK]\n    tablegroups: [orders, payments]\n    channels: [C01OPS]\n    levels: [full]\n",
			`both cover table groups "orders", "payments" of Commvault client aws-prod-account, with different channels, levels`},
		{"breakglass and reason", "  p2:\n    client: aws-prod-account\n    requesters: [U05ERIN]\n    approvers: [U06FRANK]\n    breakglass: [U05ERIN]\n    require_reason: true\n",
			"with different breakglass, require_reason"},
		{"levels both ways", "  p2:\n    client: aws-prod-account\n    requesters: [U05ERIN]\n    approvers: [U06FRANK]\n    levels: [incremental, full]\n", ""},
		{"same rules, other requesters", "  p2:\n    client: aws-prod-account\n    requesters: [U02BOB]\n    approvers: [U06FRANK]\n", ""},
		{"another client", "  staging:\n    client: aws-staging-account\n    requesters: [U05ERIN]\n", ""},
		{"client defaults to the key", "  aws-prod-account:\n    requesters: [U05ERIN]\n",
			"account aws-prod-account and account prod (line 2) both cover every table group"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("policy.yaml", []byte(prod+tt.twin))
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Parse = %v, want it to load", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Parse = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestDisjointTableGroupsMayDiffer(t *testing.T) {
	src := `accounts:
  prod-orders:
    client: aws-prod-account
    requesters: [U05ERIN]
    approvers: [U06FRANK]
    tablegroups: [orders]
  prod-scratch:
    client: aws-prod-account
    requesters: ["*"]
    tablegroups: [scratch, DynamoDB-eu/orders-copy]
`
	if _, err := Parse("policy.yaml", []byte(src)); err != nil {
		t.Errorf("Parse = %v, want disjoint table groups to load", err)
	}
	// A plain name may be the same table group as INSTANCE/NAME.
	src = strings.Replace(src, "DynamoDB-eu/orders-copy", "DynamoDB-eu/orders", 1)
	if _, err := Parse("policy.yaml", []byte(src)); err == nil || !strings.Contains(err.Error(), `table group "orders"`) {
		t.Errorf("Parse = %v, want orders and DynamoDB-eu/orders to overlap", err)
	}
}
