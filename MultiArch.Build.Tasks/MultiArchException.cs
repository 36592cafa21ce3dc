namespace MultiArch.Build.Tasks;

/// <summary>
/// An expected failure with a stable <c>MULTIARCH####</c> code and a message that says what failed and how to fix it.
/// Tasks turn it into one coded MSBuild error; no stack trace is shown for it.
/// </summary>
internal class MultiArchException : Exception
{
    public MultiArchException(string code, string message, Exception? inner = null)
        : base(message, inner)
    {
        Code = code;
    }

    /// <summary>The error code, for example <c>MULTIARCH2001</c>.</summary>
    public string Code { get; }

    /// <summary>Creates an exception from the message registry (<c>Resources/Strings.resx</c>).</summary>
    public static MultiArchException Create(string messageId, params object?[] args)
    {
        var (code, text) = Messages.Format(messageId, args);
        return new MultiArchException(code, text);
    }

    public static MultiArchException Create(Exception inner, string messageId, params object?[] args)
    {
        var (code, text) = Messages.Format(messageId, args);
        return new MultiArchException(code, text, inner);
    }
}
