package io.sessionstack.demo;

import java.io.IOException;
import java.io.PrintWriter;
import java.net.InetAddress;

import jakarta.servlet.annotation.WebServlet;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import jakarta.servlet.http.HttpSession;

/**
 * The sessionstack demo protocol: each GET of the context root increments a per-session counter
 * (1 for a new session) and reports pod, session id and counter in X-Sessionstack-* headers and
 * in a small HTML page.
 */
@WebServlet(urlPatterns = {""})
public class CounterServlet extends HttpServlet {
    static final String COUNTER = "sessionstack.counter";

    static String podName() {
        String pod = System.getenv("POD_NAME");
        if (pod == null || pod.isBlank()) {
            pod = System.getProperty("jboss.node.name");
        }
        if (pod == null || pod.isBlank()) {
            try {
                pod = InetAddress.getLocalHost().getHostName();
            } catch (IOException e) {
                pod = "unknown";
            }
        }
        return pod;
    }

    static String html(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }

    @Override
    protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        HttpSession session = req.getSession(true);
        Object previous = session.getAttribute(COUNTER);
        int counter = previous instanceof Integer ? (Integer) previous + 1 : 1;
        // setAttribute marks the attribute dirty; Spring Session writes it to Redis when the
        // response is committed (flush mode ON_SAVE).
        session.setAttribute(COUNTER, counter);

        String id = session.getId();
        int dot = id.indexOf('.');
        if (dot >= 0) {
            id = id.substring(0, dot);
        }
        String pod = podName();

        resp.setHeader("X-Sessionstack-Pod", pod);
        resp.setHeader("X-Sessionstack-Session", id);
        resp.setHeader("X-Sessionstack-Counter", Integer.toString(counter));
        resp.setHeader("Cache-Control", "no-store");
        resp.setContentType("text/html;charset=UTF-8");
        PrintWriter out = resp.getWriter();
        out.println("<!DOCTYPE html>");
        out.println("<html><head><title>sessionstack: Spring Session demo</title></head><body>");
        out.println("<h1>Spring Session (Redis) demo</h1>");
        out.println("<dl>");
        out.println("<dt>Pod</dt><dd id=\"pod\">" + html(pod) + "</dd>");
        out.println("<dt>Session</dt><dd id=\"session\">" + html(id) + "</dd>");
        out.println("<dt>Counter</dt><dd id=\"counter\">" + counter + "</dd>");
        out.println("</dl>");
        out.println("<p>Reload: the counter goes up by one whichever pod answers.</p>");
        out.println("</body></html>");
    }
}
