package sync

import "k8s.io/apimachinery/pkg/api/equality"

func equalJSON(a, b map[string]any) bool { return equality.Semantic.DeepEqual(a, b) }
