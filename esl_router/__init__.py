"""esl_router: the outbound Event Socket call router (issue: call router)."""
