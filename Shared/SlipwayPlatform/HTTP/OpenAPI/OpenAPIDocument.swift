import HTTPTypes

/// The OpenAPI 3.1 document of Slipway's API, built from the route declarations (`RouteInventory`): each service
/// serves its own at `/internal/openapi.json`, and the gateway merges them with its own routes and its access rules at
/// `/api/openapi.json`.
public enum OpenAPIDocument {
    public static let version = "3.1.0"

    /// A service's document: its public routes (under `/api/`, documented or not), tagged with the service's name.
    /// An undocumented route is listed with `x-slipway-undocumented` so the gap shows instead of hiding.
    public static func service(_ name: String, routes: [RouteInventory.Route], title: String = "Slipway API") -> OpenAPIValue {
        var paths: [String: OpenAPIValue] = [:]
        for route in routes where route.path.hasPrefix("/api/") && !route.path.contains("*") {
            var item = paths[route.path] ?? [:]
            item[route.method.rawValue.lowercased()] = operation(route, service: name)
            paths[route.path] = item
        }
        return [
            "openapi": .string(version),
            "info": ["title": .string(title), "version": "1"],
            "tags": [["name": .string(name), "description": .string("Served by \(name)")]],
            "paths": .object(paths),
            "components": components,
        ]
    }

    static func operation(_ route: RouteInventory.Route, service: String) -> OpenAPIValue {
        var operation: OpenAPIValue = [
            "operationId": .string(operationID(route)),
            "tags": [.string(service)],
        ]
        var parameters: [OpenAPIValue] = pathParameters(route.path).map {
            ["name": .string($0), "in": "path", "required": true, "schema": ["type": "string", "minLength": 1]]
        }
        var responses: [String: OpenAPIValue] = ["default": ["$ref": "#/components/responses/Error"]]
        guard let doc = route.doc else {
            operation["summary"] = "Undocumented"
            operation["x-slipway-undocumented"] = true
            operation["parameters"] = .array(parameters)
            operation["responses"] = .object(responses)
            return operation
        }
        operation["summary"] = .string(doc.summary)
        if let details = doc.details { operation["description"] = .string(details) }
        for query in doc.query {
            var parameter: OpenAPIValue = ["name": .string(query.name), "in": "query", "schema": query.schema]
            parameter["description"] = .string(query.description)
            if query.required { parameter["required"] = true }
            parameters.append(parameter)
        }
        operation["parameters"] = .array(parameters)
        if let body = doc.body {
            let schema = (try? body.schema.get()) ?? [:]
            operation["requestBody"] = [
                "required": .bool(body.required),
                "content": ["application/json": ["schema": schema]],
            ]
        }
        var success: OpenAPIValue = ["description": .string(doc.status.reasonPhrase)]
        if let answer = route.answer {
            success["content"] = [answer.contentType: ["schema": answer.schema]]
        }
        responses[String(doc.status.code)] = success
        operation["responses"] = .object(responses)
        return operation
    }

    /// `get /api/registered-models/{name}/versions` → `get_registered_models_name_versions`.
    static func operationID(_ route: RouteInventory.Route) -> String {
        let words = route.path.split(separator: "/").dropFirst().map { segment in
            segment.filter { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }.replacingOccurrences(of: "-", with: "_")
        }
        return ([route.method.rawValue.lowercased()] + words).joined(separator: "_")
    }

    static func pathParameters(_ path: String) -> [String] {
        path.split(separator: "/").compactMap { segment in
            segment.hasPrefix("{") && segment.hasSuffix("}") ? String(segment.dropFirst().dropLast()) : nil
        }
    }

    /// The error every route may answer with (`APIError`).
    static let components: OpenAPIValue = [
        "schemas": [
            "Error": [
                "type": "object",
                "required": ["error"],
                "properties": [
                    "error": [
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": [
                            "code": ["type": "string", "description": "Stable and machine-readable: not_found, invalid, conflict, …"],
                            "message": ["type": "string"],
                            "details": [
                                "type": "object", "additionalProperties": ["type": "string"],
                                "description": "`field` names the input at fault",
                            ],
                        ],
                    ]
                ],
            ]
        ],
        "responses": [
            "Error": [
                "description": "An error: 400 malformed input, 401/403 access, 404 unknown, 409 conflict, 422 a broken rule, 5xx",
                "content": ["application/json": ["schema": ["$ref": "#/components/schemas/Error"]]],
            ]
        ],
    ]

    /// The documents of several services as one: their paths, tags and components together (a path two documents
    /// declare keeps both's operations).
    public static func merge(_ documents: [OpenAPIValue], title: String, description: String) -> OpenAPIValue {
        var paths: [String: OpenAPIValue] = [:]
        var tags: [OpenAPIValue] = []
        var components = Self.components.objectValue ?? [:]
        for document in documents {
            for (path, item) in document["paths"]?.objectValue ?? [:] {
                var merged = paths[path]?.objectValue ?? [:]
                for (method, operation) in item.objectValue ?? [:] { merged[method] = operation }
                paths[path] = .object(merged)
            }
            if case .array(let more)? = document["tags"] { tags += more.filter { !tags.contains($0) } }
            for (kind, entries) in document["components"]?.objectValue ?? [:] {
                var section = components[kind]?.objectValue ?? [:]
                for (name, entry) in entries.objectValue ?? [:] { section[name] = entry }
                components[kind] = .object(section)
            }
        }
        return [
            "openapi": .string(version),
            "info": ["title": .string(title), "version": "1", "description": .string(description)],
            "tags": .array(tags),
            "paths": .object(paths),
            "components": .object(components),
        ]
    }
}
