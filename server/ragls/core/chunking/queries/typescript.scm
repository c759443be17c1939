; Shared by TypeScript and TSX. Overload, abstract and interface signatures are other node
; types (function_signature, abstract_method_signature, method_signature), so never match.
(function_declaration name: (identifier) @name) @function
(generator_function_declaration name: (identifier) @name) @function
(method_definition name: (_) @name) @function

(variable_declarator
  name: (identifier) @name
  value: [(arrow_function) (function_expression) (generator_function)] @function)
(assignment_expression
  left: [(identifier) (member_expression)] @name
  right: [(arrow_function) (function_expression) (generator_function)] @function)
(pair
  key: (_) @name
  value: [(arrow_function) (function_expression) (generator_function)] @function)
(public_field_definition
  name: (_) @name
  value: [(arrow_function) (function_expression) (generator_function)] @function)

(export_statement
  value: [(arrow_function) (function_expression) (generator_function)] @function)
