(method name: (_) @name) @function
(singleton_method name: (_) @name) @function
