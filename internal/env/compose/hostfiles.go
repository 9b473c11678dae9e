package compose

import (
	"go.yaml.in/yaml/v3"
)

// hostFileKeys are the Compose keys whose values compose-go reads from the
// filesystem of the process that loads the file. A Compose file comes from
// a branch and is loaded by the server (or a GitOps controller): honouring
// them would hand the host's files (an env file of secrets, anything the
// server can read) to whoever pushes the branch.
var hostFileKeys = []struct{ key, instead string }{
	{"env_file", "put the variables under environment:"},
	{"label_file", "put the labels under labels:"},
}

// refuseHostFiles fails on the first key of the document that would make
// the loader read a file of the host: top-level include, and env_file,
// label_file and extends.file of a service.
func refuseHostFiles(doc *yaml.Node, pos positions) error {
	root := mapping(doc)
	if root == nil {
		return nil
	}
	if value(root, "include") != nil {
		return pos.errorf([]string{"include"}, "include: reads other files of the host running Slipway: not supported; put the services in this file")
	}
	services := mapping(value(root, "services"))
	if services == nil {
		return nil
	}
	for i := 0; i+1 < len(services.Content); i += 2 {
		name := services.Content[i].Value
		svc := mapping(services.Content[i+1])
		if svc == nil {
			continue
		}
		for _, k := range hostFileKeys {
			if value(svc, k.key) != nil {
				return pos.errorf([]string{"services", name, k.key}, "services.%s.%s: reads files of the host running Slipway: not supported; %s", name, k.key, k.instead)
			}
		}
		if ext := mapping(value(svc, "extends")); ext != nil && value(ext, "file") != nil {
			return pos.errorf([]string{"services", name, "extends", "file"}, "services.%s.extends.file: reads other files of the host running Slipway: not supported; extend a service of this file", name)
		}
	}
	return nil
}

// mapping is n (the document's root for a document node, through
// aliases) when it is a mapping, else nil.
func mapping(n *yaml.Node) *yaml.Node {
	for n != nil && (n.Kind == yaml.DocumentNode || n.Kind == yaml.AliasNode) {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
			continue
		}
		if len(n.Content) == 0 {
			return nil
		}
		n = n.Content[0]
	}
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	return n
}

// value is the value of key in mapping m, nil without it. A merge key
// (<<) is followed, as the loader would.
func value(m *yaml.Node, key string) *yaml.Node {
	if m == nil {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		if k.Value == key {
			return m.Content[i+1]
		}
		if k.Tag == "!!merge" || k.Value == "<<" {
			v := m.Content[i+1]
			for v.Kind == yaml.AliasNode {
				v = v.Alias
			}
			srcs := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				srcs = v.Content
			}
			for _, s := range srcs {
				if found := value(mapping(s), key); found != nil {
					return found
				}
			}
		}
	}
	return nil
}
