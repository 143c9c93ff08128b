/* The login page of 'hotfix serve' (answered with 401 to a page without a
 * valid token): keeps the token in the cookie the server reads for GET
 * requests, then loads the dashboard again. The token never goes into the
 * URL. */
'use strict';

document.addEventListener('DOMContentLoaded', function () {
	var form = document.getElementById('login');
	var input = document.getElementById('token');
	var error = document.getElementById('login-error');

	form.addEventListener('submit', function (ev) {
		var token = input.value.trim();

		ev.preventDefault();
		if (!token)
			return;
		/* Check it first, so a typo says so instead of coming back here. */
		fetch('/api/v1/whoami', { headers: { Authorization: 'Bearer ' + token },
					  credentials: 'same-origin', cache: 'no-store' })
			.then(function (r) {
				if (r.status === 401) {
					error.textContent = 'this token is not valid here';
					error.hidden = false;
					return;
				}
				document.cookie = 'hotfix_token=' + encodeURIComponent(token) +
					'; Path=/; SameSite=Strict' +
					(location.protocol === 'https:' ? '; Secure' : '');
				location.reload();
			})
			.catch(function (e) {
				error.textContent = 'the server did not answer: ' + e;
				error.hidden = false;
			});
	});
});
