import SlipwayModelBundle
import SlipwayPlatform

import enum SlipwayContracts.PredictionRoute

/// The prediction API — what every endpoint answers at `<serving-router>/<endpoint>` and a model-server at its own
/// port — as an OpenAPI 3.1 document. The gateway serves it at `/api/prediction/openapi.json`, beside the platform's.
///
/// Request bodies are derived from the types the model-server decodes (`SchemaProbe`), with the limits it checks
/// (`ServingLimits`). The answers are written by hand in `RecommendationJSON`, so their schemas are written here, one
/// per shape; `scripts/check-api` runs schemathesis against a live endpoint with this document, which fails on any
/// answer the schemas do not describe.
public enum PredictionAPIReference {
    /// The document; `endpointURL` is the example server (each endpoint is a server of its own).
    public static func document(endpointURL: String = "http://127.0.0.1:8081/my-endpoint") -> OpenAPIValue {
        [
            "openapi": .string(OpenAPIDocument.version),
            "info": [
                "title": "Slipway prediction API", "version": "1",
                "description": """
                What every deployed endpoint answers, at its URL (`<serving-router>/<endpoint>`, on the endpoint's page \
                and in `slipway endpoints list`), with an API key of the endpoint's model. Answers come in Slipway's \
                shapes unless `format=spec` asks for the specification's; a `/recommend-batch` that sends \
                `customer_ids` gets the specification's without asking.
                """,
            ],
            "servers": [
                [
                    "url": "{endpoint_url}",
                    "variables": [
                        "endpoint_url": ["default": .string(endpointURL), "description": "The endpoint's URL"]
                    ],
                ]
            ],
            "security": [["apiKey": []]],
            "tags": [["name": "prediction", "description": "Served by serving-router and model-server"]],
            "paths": paths,
            "components": components,
        ]
    }

    // MARK: - Routes

    /// Every route of the API (`PredictionRoute`, which serving-router and model-server match with) and what it says.
    static var paths: OpenAPIValue {
        var paths: [String: OpenAPIValue] = [:]
        for route in PredictionRoute.allCases {
            paths[route.template] = .object([route.method.lowercased(): operation(route)])
        }
        return .object(paths)
    }

    static func operation(_ route: PredictionRoute) -> OpenAPIValue {
        switch route {
        case .recommend:
            operation(
                "recommend", "Recommend products for one customer",
                details: "Features other than the customer id are optional; an unknown customer gets a fallback ranking, named in `fallback`.",
                body: RecommendRequest.self, query: [format], answer: ["anyOf": [ref("Recommendation"), ref("SpecRecommendation")]])
        case .recommendBatch:
            operation(
                "recommend_batch", "Recommend products for up to \(ServingLimits.maxBatch) customers",
                details: "Send `customers` (each with its features) or the specification's `customer_ids`, not both.",
                body: RecommendBatchRequest.self, exactlyOneOf: ["customers", "customer_ids"], query: [format],
                answer: ["anyOf": [ref("RecommendationBatch"), ref("SpecRecommendationBatch")]])
        case .predict:
            operation(
                "predict", "Rank candidates for each instance (TensorFlow Serving's predict)",
                details:
                    "`{model}` is the endpoint's model name; another name is a 404. Each instance holds the model's query features (its input schema; at least the customer id feature), by name.",
                body: PredictRequest.self, parameters: [modelParameter], answer: ref("Predictions"))
        case .modelStatus:
            operation(
                "model_status", "The served version's status (TensorFlow Serving's model status)", parameters: [modelParameter],
                answer: ref("ModelStatus"))
        case .health:
            operation(
                "health", "The served version, and whether it answers", query: [format], answer: ["anyOf": [ref("Health"), ref("SpecHealth")]])
        }
    }

    static let format: OpenAPIValue = [
        "name": "format", "in": "query",
        "description": "`spec` answers in the specification's shapes; `slipway` (the default) in Slipway's",
        "schema": ["type": "string", "enum": ["slipway", "spec"]],
    ]

    static let modelParameter: OpenAPIValue = [
        "name": "model", "in": "path", "required": true, "description": "The endpoint's model name",
        "schema": ["type": "string", "minLength": 1],
    ]

    static func operation<Body: Decodable>(
        _ id: String, _ summary: String, details: String, body: Body.Type, exactlyOneOf: [String] = [], query: [OpenAPIValue] = [],
        parameters: [OpenAPIValue] = [], answer: OpenAPIValue
    ) -> OpenAPIValue {
        var operation = operation(id, summary, parameters: parameters + query, answer: answer)
        operation["description"] = .string(details)
        var schema = requestSchema(Body.self)
        // Fields the type decodes as optional of which the route wants exactly one (a 400 otherwise).
        if !exactlyOneOf.isEmpty { schema["oneOf"] = .array(exactlyOneOf.map { ["required": [.string($0)]] }) }
        operation["requestBody"] = ["required": true, "content": ["application/json": ["schema": schema]]]
        return operation
    }

    static func operation(_ id: String, _ summary: String, parameters: [OpenAPIValue] = [], query: [OpenAPIValue] = [], answer: OpenAPIValue)
        -> OpenAPIValue
    {
        [
            "operationId": .string(id), "summary": .string(summary), "tags": ["prediction"],
            "parameters": .array(parameters + query),
            "responses": [
                "200": ["description": "OK", "content": ["application/json": ["schema": answer]]],
                "default": ["$ref": "#/components/responses/Error"],
            ],
        ]
    }

    /// The decoded type's schema with the limits the routes check after decoding: `top_k` in 1…1000, batches of
    /// 1…1000 entries.
    static func requestSchema<Body: Decodable>(_ type: Body.Type) -> OpenAPIValue {
        guard var schema = try? SchemaProbe.schema(of: Body.self) else {
            preconditionFailure("the prediction API's \(Body.self) has no schema")
        }
        schema["properties"]?["top_k"]?["minimum"] = 1
        schema["properties"]?["top_k"]?["maximum"] = .integer(ServingLimits.maxTopK)
        for batch in ["instances", "customers", "customer_ids"] where schema["properties"]?[batch] != nil {
            schema["properties"]?[batch]?["minItems"] = 1
            schema["properties"]?[batch]?["maxItems"] = .integer(ServingLimits.maxBatch)
        }
        return schema
    }

    static func ref(_ name: String) -> OpenAPIValue { ["$ref": .string("#/components/schemas/\(name)")] }

    // MARK: - Answers, as RecommendationJSON writes them

    static func object(_ properties: [String: OpenAPIValue], required: [String]) -> OpenAPIValue {
        ["type": "object", "required": .array(required.map(OpenAPIValue.string)), "properties": .object(properties)]
    }

    static let string: OpenAPIValue = ["type": "string"]
    static let productIDs: OpenAPIValue = ["type": "array", "items": ["type": "string"]]
    /// A score; null only for a non-finite one, which a valid bundle never produces.
    static let score: OpenAPIValue = ["type": ["number", "null"]]
    static let scores: OpenAPIValue = ["type": "array", "items": score]
    static let fallback: OpenAPIValue = [
        "type": "string", "enum": ["popularity", "attributes"],
        "description":
            "Present when the customer is unknown: `popularity` ranks the most interacted-with candidates, `attributes` scores the customer's other features",
    ]
    static let specRanking: OpenAPIValue = [
        "type": "array", "items": object(["product_id": string, "score": score], required: ["product_id", "score"]),
    ]

    static var components: OpenAPIValue {
        [
            "securitySchemes": [
                "apiKey": [
                    "type": "http", "scheme": "bearer",
                    "description": "An API key of the endpoint's model (`slipway keys create --model …`, or the endpoint's API keys tab)",
                ]
            ],
            "schemas": [
                "Recommendation": object(
                    [
                        "customer_id": string, "fallback": fallback, "model_name": string, "model_version": string, "product_ids": productIDs,
                        "scores": scores,
                    ], required: ["customer_id", "model_name", "model_version", "product_ids", "scores"]),
                "SpecRecommendation": object(
                    ["customer_id": string, "fallback": fallback, "model_version": string, "recommendations": specRanking],
                    required: ["customer_id", "model_version", "recommendations"]),
                "RecommendationBatch": object(
                    [
                        "model_name": string, "model_version": string,
                        "recommendations": [
                            "type": "array",
                            "items": object(
                                ["customer_id": string, "fallback": fallback, "product_ids": productIDs, "scores": scores],
                                required: ["customer_id", "product_ids", "scores"]),
                        ],
                    ], required: ["model_name", "model_version", "recommendations"]),
                "SpecRecommendationBatch": object(
                    [
                        "model_version": string,
                        "results": [
                            "type": "array",
                            "items": object(
                                ["customer_id": string, "fallback": fallback, "recommendations": specRanking],
                                required: ["customer_id", "recommendations"]),
                        ],
                    ], required: ["model_version", "results"]),
                "Predictions": object(
                    [
                        "predictions": [
                            "type": "array",
                            "items": object(
                                ["fallback": fallback, "product_ids": productIDs, "scores": scores], required: ["product_ids", "scores"]),
                        ]
                    ], required: ["predictions"]),
                "ModelStatus": object(
                    [
                        "model_version_status": [
                            "type": "array",
                            "items": object(
                                [
                                    "version": string, "state": ["type": "string", "enum": ["AVAILABLE"]],
                                    "status": object(["error_code": string, "error_message": string], required: ["error_code", "error_message"]),
                                ], required: ["version", "state", "status"]),
                        ]
                    ], required: ["model_version_status"]),
                "Health": object(
                    [
                        "status": ["type": "string", "enum": ["ok"]], "model_name": string, "model_version": string,
                        "training_run_id": string, "candidates": ["type": "integer"], "dim": ["type": "integer"],
                    ], required: ["status", "model_name", "model_version", "candidates", "dim"]),
                "SpecHealth": object(
                    ["status": ["type": "string", "enum": ["healthy"]], "model_version": string, "training_run": string],
                    required: ["status", "model_version"]),
                "Error": [
                    "type": "object", "required": ["error"],
                    "description":
                        "model-server's errors name the field at fault; serving-router's (a key, an endpoint, no serving revision) are a message",
                    "properties": [
                        "error": [
                            "anyOf": [
                                string,
                                object(
                                    [
                                        "code": string, "message": string,
                                        "details": [
                                            "type": "object", "additionalProperties": string, "description": "`field` names the input at fault",
                                        ],
                                    ], required: ["code", "message"]),
                            ]
                        ]
                    ],
                ],
            ],
            "responses": [
                "Error": [
                    "description":
                        "400 a bad body or parameter, 401 no key or not this model's, 404 an unknown endpoint, route or model, 413 a body over 8 MiB, 503 no serving revision or routing not loaded, 502 the served version unreachable",
                    "content": ["application/json": ["schema": ref("Error")]],
                ]
            ],
        ]
    }
}

extension FeatureValue: SchemaDescribing {
    public static var jsonSchema: OpenAPIValue {
        ["type": ["string", "integer", "number"], "description": "A raw feature value, as the model's input schema declares it"]
    }
    public static var schemaPlaceholder: FeatureValue { .string("") }
}
