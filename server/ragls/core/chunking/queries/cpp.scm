; Definitions with a body; `= default` / `= delete` / pure virtual members have none.
(function_definition declarator: (_) @name body: (_)) @function
