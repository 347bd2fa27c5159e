package hub

import (
	"cmp"
	"slices"
)

func sortMembers(members []Member) {
	slices.SortFunc(members, func(a, b Member) int {
		return cmp.Or(cmp.Compare(FoldNickname(a.Nickname), FoldNickname(b.Nickname)),
			cmp.Compare(a.SessionID, b.SessionID))
	})
}
