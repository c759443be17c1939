; Abstract and interface methods without a body are not chunks.
(method_declaration name: (identifier) @name body: (block)) @function
(constructor_declaration name: (identifier) @name) @function
(compact_constructor_declaration name: (identifier) @name) @function
