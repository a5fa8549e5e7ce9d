// serving-router: built in Services/ServingRouterCore (work in progress).
public enum ServingRouterPlaceholder {}
