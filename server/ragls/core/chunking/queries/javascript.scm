; Declarations and methods name themselves.
(function_declaration name: (identifier) @name) @function
(generator_function_declaration name: (identifier) @name) @function
(method_definition name: (_) @name) @function

; Function values take the name they are bound to.
(variable_declarator
  name: (identifier) @name
  value: [(arrow_function) (function_expression) (generator_function)] @function)
(assignment_expression
  left: [(identifier) (member_expression)] @name
  right: [(arrow_function) (function_expression) (generator_function)] @function)
(pair
  key: (_) @name
  value: [(arrow_function) (function_expression) (generator_function)] @function)
(field_definition
  property: (_) @name
  value: [(arrow_function) (function_expression) (generator_function)] @function)

; `export default function () {}` and `export default () => ...` have no name of their own.
(export_statement
  value: [(arrow_function) (function_expression) (generator_function)] @function)
