; Declarations without a body (implemented in assembly) are not chunks.
(function_declaration name: (identifier) @name body: (block)) @function
(method_declaration name: (field_identifier) @name body: (block)) @function
