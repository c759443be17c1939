; Every def / async def, wherever it is; the chunker qualifies it by its enclosing scopes.
(function_definition name: (identifier) @name) @function
