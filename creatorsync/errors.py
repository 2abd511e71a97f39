class ServiceError(Exception):
    """A service refused an operation. `code` is stable and machine-readable; the message is for people."""

    def __init__(self, message: str, *, code: str):
        super().__init__(message)
        self.code = code
