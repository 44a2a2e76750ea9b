<%--
  sessionstack session demo. Every request increments a per-session counter (a new session
  answers 1) and reports, in headers that tools read and in HTML for people:
    X-Sessionstack-Pod      serving pod (env POD_NAME, else jboss.node.name)
    X-Sessionstack-Session  session id without the route suffix after '.'
    X-Sessionstack-Counter  counter after the increment
--%><%@ page contentType="text/html; charset=UTF-8" session="true" trimDirectiveWhitespaces="true" %><%
    String pod = System.getenv("POD_NAME");
    if (pod == null || pod.isEmpty()) {
        pod = System.getProperty("jboss.node.name", "unknown");
    }
    Integer previous = (Integer) session.getAttribute("counter");
    int counter = (previous == null ? 0 : previous) + 1;
    // setAttribute on every request: the replicated copy is what another pod will read.
    session.setAttribute("counter", Integer.valueOf(counter));
    String sessionId = session.getId();
    int dot = sessionId.indexOf('.');
    if (dot >= 0) {
        sessionId = sessionId.substring(0, dot);
    }
    response.setHeader("X-Sessionstack-Pod", pod);
    response.setHeader("X-Sessionstack-Session", sessionId);
    response.setHeader("X-Sessionstack-Counter", Integer.toString(counter));
    response.setHeader("Cache-Control", "no-store");
    String safePod = pod.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
%><!DOCTYPE html>
<html lang="en">
<head><meta charset="UTF-8"><title>sessionstack session demo</title></head>
<body>
<h1>sessionstack session demo</h1>
<table>
<tr><th>Pod</th><td id="pod"><%= safePod %></td></tr>
<tr><th>Session</th><td id="session"><%= sessionId %></td></tr>
<tr><th>Counter</th><td id="counter"><%= counter %></td></tr>
</table>
</body>
</html>
