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

    /// <summary>The file the error is in (a manifest spec), when it is not the project; with <see cref="Line"/> and <see cref="Column"/> (0 when unknown).</summary>
    public string? File { get; private init; }

    public int Line { get; private init; }

    public int Column { get; private init; }

    /// <summary>
    /// The message without its leading <c>file(line,col): </c> or <c>file: </c>, for a logger that reports the location
    /// itself (MSBuild prints it before the code); <see cref="Exception.Message"/> keeps it for everyone else.
    /// </summary>
    public string MessageWithoutLocation
    {
        get
        {
            if (File is null)
            {
                return Message;
            }

            foreach (var prefix in new[] { $"{File}({Line.ToString(System.Globalization.CultureInfo.InvariantCulture)},{Column.ToString(System.Globalization.CultureInfo.InvariantCulture)}): ", File + ": " })
            {
                if (Message.StartsWith(prefix, StringComparison.Ordinal))
                {
                    return Message[prefix.Length..];
                }
            }

            return Message;
        }
    }

    /// <summary>The same error, located in <paramref name="file"/> at <paramref name="line"/>, <paramref name="column"/> (0: unknown).</summary>
    public MultiArchException At(string file, int line = 0, int column = 0) =>
        new(Code, Message, InnerException) { File = file, Line = line, Column = column };

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
