package fuzzy

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestClosest(t *testing.T) {
	tableGroups := []string{"orders", "ordersarchive", "payments", "inventory", "default", "customer profiles"}
	commands := []string{"dynamodb", "emergency", "status", "list", "cancel", "help"}
	fields := []string{"client", "requesters", "approvers", "channels", "tablegroups", "require_reason", "breakglass", "levels", "approval_timeout"}
	tests := []struct {
		name       string
		typed      string
		candidates []string
		n          int
		want       []string
	}{
		// table groups
		{"missing letter, then the longer name it starts", "order", tableGroups, 3, []string{"orders", "ordersarchive"}},
		{"case is ignored", "Oders", tableGroups, 3, []string{"orders"}},
		{"one letter out", "paymnts", tableGroups, 3, []string{"payments"}},
		{"a word of the name", "customer", tableGroups, 3, []string{"customer profiles"}},
		{"the end of the name", "archive", tableGroups, 3, []string{"ordersarchive"}},
		{"a prefix of 3", "ord", tableGroups, 3, []string{"orders", "ordersarchive"}},
		{"the name contains a candidate", "orders2", tableGroups, 3, []string{"orders"}},
		{"transposition costs 1", "ordres", tableGroups, 3, []string{"orders"}},
		{"nothing close", "zzz", tableGroups, 3, nil},
		{"at most n", "aa", []string{"aa5", "aa1", "aa3", "aa2", "aa4"}, 3, []string{"aa1", "aa2", "aa3"}},

		// command words
		{"misspelt command", "dynamdb", commands, 2, []string{"dynamodb"}},
		{"abbreviated command", "stat", commands, 2, []string{"status"}},
		{"transposed command", "lsit", commands, 2, []string{"list"}},
		{"a table group is not a command", "prod", commands, 2, nil},

		// policy keys
		{"missing letter in a key", "aprovers", fields, 1, []string{"approvers"}},
		{"dash for underscore", "require-reason", fields, 1, []string{"require_reason"}},
		{"missing underscore", "approvaltimeout", []string{"approval_timeout", "accounts", "groups"}, 1, []string{"approval_timeout"}},
		{"key far from all", "owner", fields, 1, nil},

		// limits of the rule
		{"a short name allows one edit", "lst", []string{"list", "last", "lost"}, 3, []string{"last", "list", "lost"}},
		{"two edits are too many for 4 runes", "lsut", []string{"list"}, 3, nil},
		{"two edits are fine for 5 runes", "ordrz", []string{"orders"}, 3, []string{"orders"}},
		{"three edits are too many for 8 runes", "abcdefgh", []string{"abcdexyz"}, 3, nil},
		{"three edits are fine for 9 runes", "abcdefghi", []string{"abcdefxyz"}, 3, []string{"abcdefxyz"}},
		{"two runes relate to nothing", "or", []string{"orders"}, 3, nil},
		{"an exact match up to case comes first", "ORDERS", []string{"ordersx", "orders"}, 3, []string{"orders", "ordersx"}},

		// ties and order
		{"ties go alphabetically, ignoring case", "cat", []string{"cut", "Bat", "car"}, 3, []string{"Bat", "car", "cut"}},
		{"same fold: byte order decides", "ab", []string{"aB", "AB", "ab"}, 3, []string{"AB", "aB", "ab"}},
		{"related before unrelated at the same distance", "abcd", []string{"abce", "abcde"}, 3, []string{"abcde", "abce"}},
		{"nearer before related", "orders", []string{"ordersarchive", "ordrs"}, 3, []string{"ordrs", "ordersarchive"}},
		{"duplicates count once", "orders", []string{"orders", "orders", "ordrs"}, 2, []string{"orders", "ordrs"}},

		// runes, not bytes
		{"accented letter is one rune", "héllo", []string{"hello"}, 3, []string{"hello"}},
		{"non-ASCII case folding", "ÉTÉ", []string{"été"}, 3, []string{"été"}},
		{"non-ASCII transposition", "日本語", []string{"本日語"}, 3, []string{"本日語"}},
		{"three runes of a wider script relate", "東京都", []string{"東京都庁"}, 3, []string{"東京都庁"}},

		// empty input
		{"empty name", "", tableGroups, 3, nil},
		{"no candidates", "orders", nil, 3, nil},
		{"empty candidate", "a", []string{"", "b"}, 3, []string{"b"}},
		{"n is zero", "orders", tableGroups, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Closest(tt.typed, tt.candidates, tt.n)
			if !slices.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
				t.Errorf("Closest(%q, %q, %d) = %#v, want %#v", tt.typed, tt.candidates, tt.n, got, tt.want)
			}
		})
	}
}

func TestClosestKeepsCandidates(t *testing.T) {
	candidates := []string{"b", "a", "c"}
	Closest("a", candidates, 3)
	if want := []string{"b", "a", "c"}; !slices.Equal(candidates, want) {
		t.Errorf("Closest changed its candidates to %q, want %q", candidates, want)
	}
}

func TestClosestLongInput(t *testing.T) {
	long := strings.Repeat("x", 10000)
	if got := Closest(long, []string{"status", "x" + long}, 3); !slices.Equal(got, []string{"x" + long}) {
		t.Errorf("Closest(10000 runes) = %d names, want the one containing it", len(got))
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"abc", "", 3},
		{"", "abc", 3},
		{"kitten", "sitting", 3},
		{"orders", "oders", 1},
		{"orders", "ordres", 1},
		{"lsit", "list", 1},
		{"ca", "abc", 3}, // optimal string alignment edits no rune twice
		{"héllo", "hello", 1},
		{"日本語", "本日語", 1},
		{"naïve", "naive", 1},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s→%s", tt.a, tt.b), func(t *testing.T) {
			if got := editDistance(tt.a, tt.b); got != tt.want {
				t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
			if got := editDistance(tt.b, tt.a); got != tt.want {
				t.Errorf("editDistance(%q, %q) = %d, want %d", tt.b, tt.a, got, tt.want)
			}
		})
	}
}
