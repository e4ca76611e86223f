// Command objstore runs an objstore node (objstore serve) and talks to one.
package main

// main is a placeholder so that the package builds until serve.go wires
// the node; it is to be replaced.
func main() {}
